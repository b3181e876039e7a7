//! Compiles `onnx.proto` with protox (a protobuf compiler in Rust) and writes the prost code.
//!
//! Usage: `gen-onnx-proto PROTO_DIR OUT_DIR`: reads `PROTO_DIR/onnx.proto`, writes
//! `OUT_DIR/onnx.rs` (package `onnx`). `scripts/gen-onnx-proto.sh` renames and formats it.

use std::env;
use std::error::Error;

fn main() -> Result<(), Box<dyn Error>> {
    let args: Vec<String> = env::args().skip(1).collect();
    let [proto_dir, out_dir] = args.as_slice() else {
        return Err("usage: gen-onnx-proto PROTO_DIR OUT_DIR".into());
    };
    let descriptors = protox::compile(["onnx.proto"], [proto_dir])?;
    prost_build::Config::new().out_dir(out_dir).compile_fds(descriptors)?;
    Ok(())
}
