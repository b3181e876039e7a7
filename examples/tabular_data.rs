//! Writes a synthetic CSV table for the `tabular` example, the same on every machine for a
//! seed (the workspace's portable random numbers).
//!
//! ```sh
//! cargo run --release --example tabular_data -- regression 1000 > houses.csv
//! cargo run --release --example tabular_data -- classification 1000 > fruit.csv
//! cargo run --release --example tabular_data -- multilabel 1000 > tags.csv
//! cargo run --release --example tabular_data -- regression 1000 7 > houses-seed7.csv
//! ```
//! - `regression`: houses. `price` (k€) = 2.5·area + 15·rooms − 0.8·age + the city's premium
//!   + 25 with a garden + noise of deviation 10: nearly linear, so R² ≈ 0.99 is reachable.
//! - `classification`: fruit. `fruit` (apple, lemon, orange, plum) from `weight`, `diameter` and
//!   `color`, drawn per class with some overlap: about 95 % accuracy is reachable.
//! - `multilabel`: tags. `outdoor` = x1 + x2 > 0, `social` = x3 > 0.5, `loud` = `genre` is
//!   action or concert: a rule a small network learns exactly.
//!
//! Arguments: the kind, the number of rows (default 1000), the seed (default 1).

use std::io::Write;

use nn::net::rng::{ChaCha8Rng, SeedableRng, index, normal_f64, uniform_f64};

fn pick<'a>(rng: &mut ChaCha8Rng, items: &[&'a str]) -> &'a str {
    items[index(rng, items.len())]
}

fn houses(rng: &mut ChaCha8Rng, n: usize, out: &mut String) {
    out.push_str("area,rooms,age,city,garden,price\n");
    let cities = [("Paris", 200.0), ("Lyon", 80.0), ("Marseille", 40.0), ("Toulouse", 30.0)];
    for _ in 0..n {
        let area = 30.0 + 170.0 * uniform_f64(rng);
        let rooms = (area / 35.0 + uniform_f64(rng)).floor().clamp(1.0, 6.0);
        let age = (100.0 * uniform_f64(rng)).floor();
        let (city, premium) = cities[index(rng, cities.len())];
        let garden = uniform_f64(rng) < 0.4;
        let price = 2.5 * area + 15.0 * rooms - 0.8 * age
            + premium
            + if garden { 25.0 } else { 0.0 }
            + 10.0 * normal_f64(rng);
        let garden = if garden { "yes" } else { "no" };
        out.push_str(&format!("{area:.1},{rooms},{age},{city},{garden},{price:.1}\n"));
    }
}

fn fruit(rng: &mut ChaCha8Rng, n: usize, out: &mut String) {
    out.push_str("weight,diameter,color,fruit\n");
    // (name, mean weight g, mean diameter cm, colors it comes in)
    let kinds: [(&str, f64, f64, &[&str]); 4] = [
        ("apple", 170.0, 7.5, &["red", "green", "yellow"]),
        ("orange", 200.0, 8.0, &["orange"]),
        ("lemon", 110.0, 6.0, &["yellow", "green"]),
        ("plum", 60.0, 4.5, &["red", "purple"]),
    ];
    for _ in 0..n {
        let (name, weight, diameter, colors) = kinds[index(rng, kinds.len())];
        let w = weight * (1.0 + 0.12 * normal_f64(rng));
        let d = diameter * (1.0 + 0.08 * normal_f64(rng));
        // One fruit in twenty has an odd color.
        let color = if uniform_f64(rng) < 0.05 {
            pick(rng, &["red", "green", "yellow", "orange", "purple"])
        } else {
            pick(rng, colors)
        };
        out.push_str(&format!("{w:.0},{d:.2},{color},{name}\n"));
    }
}

fn tags(rng: &mut ChaCha8Rng, n: usize, out: &mut String) {
    out.push_str("x1,x2,x3,genre,outdoor,social,loud\n");
    for _ in 0..n {
        let (x1, x2, x3) = (normal_f64(rng), normal_f64(rng), uniform_f64(rng));
        let genre = pick(rng, &["action", "concert", "documentary", "drama"]);
        let outdoor = u8::from(x1 + x2 > 0.0);
        let social = u8::from(x3 > 0.5);
        let loud = u8::from(genre == "action" || genre == "concert");
        out.push_str(&format!("{x1:.3},{x2:.3},{x3:.3},{genre},{outdoor},{social},{loud}\n"));
    }
}

fn main() -> anyhow::Result<()> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let usage = "usage: tabular_data regression|classification|multilabel [ROWS [SEED]]";
    let kind = args.first().ok_or_else(|| anyhow::anyhow!(usage))?;
    let n: usize =
        args.get(1).map_or(Ok(1000), |s| s.parse()).map_err(|_| anyhow::anyhow!(usage))?;
    let seed: u64 = args.get(2).map_or(Ok(1), |s| s.parse()).map_err(|_| anyhow::anyhow!(usage))?;
    let mut rng = ChaCha8Rng::seed_from_u64(seed);
    let mut out = String::new();
    match kind.as_str() {
        "regression" => houses(&mut rng, n, &mut out),
        "classification" => fruit(&mut rng, n, &mut out),
        "multilabel" => tags(&mut rng, n, &mut out),
        _ => anyhow::bail!(usage),
    }
    let mut stdout = std::io::stdout().lock();
    match stdout.write_all(out.as_bytes()) {
        Err(e) if e.kind() == std::io::ErrorKind::BrokenPipe => Ok(()),
        other => Ok(other?),
    }
}
