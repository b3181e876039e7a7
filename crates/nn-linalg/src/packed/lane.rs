//! The vector operations the packed product needs, for f32 and f64 alike (pulp names them per
//! type: `splat_f32s`, `splat_f64s`, …).

use pulp::Simd;

/// The per-type vector operations behind [`PackedTheta`](super::PackedTheta). Sealed:
/// implemented for f32 and f64 only.
pub trait Lane: crate::sealed::Sealed + Copy + Default + Send + Sync + 'static {
    /// pulp's vector of this type for the instruction set `S`.
    #[doc(hidden)]
    type V<S: Simd>: Copy;
    /// Lanes per vector of `S`.
    #[doc(hidden)]
    fn lanes<S: Simd>() -> usize;
    /// The whole vectors at the start of `x` (a slice of `k · lanes` values gives `k` vectors).
    #[doc(hidden)]
    fn vectors<S: Simd>(x: &[Self]) -> &[Self::V<S>];
    /// Every lane set to `x`.
    #[doc(hidden)]
    fn splat<S: Simd>(s: S, x: Self) -> Self::V<S>;
    /// `a·b + c` with one rounding in every lane (a fused multiply-add at every level: pulp's
    /// `mul_add`, which is `vfmadd` on x86-64, `fmla` on NEON and `mul_add` in its scalar type).
    #[doc(hidden)]
    fn mul_add<S: Simd>(s: S, a: Self::V<S>, b: Self::V<S>, c: Self::V<S>) -> Self::V<S>;
    /// `a·b + c` with two roundings in every lane (the product, then the sum): the kernels of
    /// [`Rounding::Separate`](super::Rounding::Separate).
    #[doc(hidden)]
    fn mul_then_add<S: Simd>(s: S, a: Self::V<S>, b: Self::V<S>, c: Self::V<S>) -> Self::V<S>;
    /// Stores the first `min(dst.len(), lanes)` lanes of `v` into `dst`.
    #[doc(hidden)]
    fn store<S: Simd>(s: S, dst: &mut [Self], v: Self::V<S>);
    /// `a·b + c` with one rounding: the scalar reference.
    #[doc(hidden)]
    fn fma(a: Self, b: Self, c: Self) -> Self;
    /// `a·b + c` with two roundings: the scalar reference of [`Rounding::Separate`](super::Rounding::Separate).
    #[doc(hidden)]
    fn mul_add_separate(a: Self, b: Self, c: Self) -> Self;
}

macro_rules! impl_lane {
    (
        $t:ty,
        $v:ident,
        $lanes:ident,
        $as_simd:ident,
        $splat:ident,
        $mul_add:ident,
        $mul:ident,
        $add:ident,
        $store:ident
    ) => {
        impl Lane for $t {
            type V<S: Simd> = S::$v;
            #[inline(always)]
            fn lanes<S: Simd>() -> usize {
                S::$lanes
            }
            #[inline(always)]
            fn vectors<S: Simd>(x: &[Self]) -> &[Self::V<S>] {
                S::$as_simd(x).0
            }
            #[inline(always)]
            fn splat<S: Simd>(s: S, x: Self) -> Self::V<S> {
                s.$splat(x)
            }
            #[inline(always)]
            fn mul_add<S: Simd>(s: S, a: Self::V<S>, b: Self::V<S>, c: Self::V<S>) -> Self::V<S> {
                s.$mul_add(a, b, c)
            }
            #[inline(always)]
            fn mul_then_add<S: Simd>(
                s: S,
                a: Self::V<S>,
                b: Self::V<S>,
                c: Self::V<S>,
            ) -> Self::V<S> {
                s.$add(s.$mul(a, b), c)
            }
            #[inline(always)]
            fn store<S: Simd>(s: S, dst: &mut [Self], v: Self::V<S>) {
                s.$store(dst, v);
            }
            #[inline(always)]
            fn fma(a: Self, b: Self, c: Self) -> Self {
                a.mul_add(b, c)
            }
            #[inline(always)]
            fn mul_add_separate(a: Self, b: Self, c: Self) -> Self {
                a * b + c
            }
        }
    };
}
impl_lane!(
    f32,
    f32s,
    F32_LANES,
    as_simd_f32s,
    splat_f32s,
    mul_add_f32s,
    mul_f32s,
    add_f32s,
    partial_store_f32s
);
impl_lane!(
    f64,
    f64s,
    F64_LANES,
    as_simd_f64s,
    splat_f64s,
    mul_add_f64s,
    mul_f64s,
    add_f64s,
    partial_store_f64s
);
