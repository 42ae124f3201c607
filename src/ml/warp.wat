;; The bilinear affine warp of augment-pixels.ts (warpPixels), four output pixels at a time in
;; WebAssembly SIMD. JavaScript has no vector instructions, and the per-pixel JavaScript loop it
;; replaced ran at ~7 ns/px; here the arithmetic is one f32x4/i32x4 instruction per 4 pixels and
;; only the reads of the corners go one lane at a time (WebAssembly has no gather): 8 reads of
;; two neighbours each per 4 pixels.
;;
;; src/ml/warp-wasm.ts holds this module compiled (npm run wasm, with the wabt package); a test
;; compiles this file again and fails when the two differ.
;;
;; warp(src, out, size, frac, dx1..dx4, dy1..dy4, ex, ey, x0, xPerRow, y0, yPerRow, sums) warps
;; one size x size f32 image at byte address src into out: output pixel (x, y) samples the input
;; at (sx, sy), clamped to [0, size - 1] (edge pixels repeat), bilinearly. Coordinates are fixed
;; point with `frac` fraction bits: a row starts at sx = nearest(x0 + xPerRow * y) (x0 and
;; xPerRow already times 2^frac), lane k of a vector of 4 is dx_k further, and the next vector
;; dx4 further plus the carry of ex, what rounding dx4 left out (in 2^-16 units), added up along
;; the row; likewise for sy. The caller rounds each dx_k from float64 on its own, so a coordinate
;; is off by about 2^-frac px at most, and picks `frac` so that every |coordinate| * 2^frac stays
;; below 2^30. (The steps come in as parameters rather than being derived here: TurboFan
;; scheduled such derived values inside the pixel loop, which ran 1.7-2.6x slower.)
;; The caller leaves size + 4 floats of finite padding after src (a clamped corner at the last row
;; or column reads one pixel past it, with weight exactly 0) and 16 bytes after out (rows are
;; written in whole vectors; what falls past a row's end is overwritten by the next row or lands
;; in the padding). The sum and the sum of squares (float64) of the values written go to sums and
;; sums + 8.
(module
  (memory (export "memory") 1)
  (func (export "warp")
    (param $src i32) (param $out i32) (param $size i32) (param $frac i32)
    (param $dx1 i32) (param $dx2 i32) (param $dx3 i32) (param $dx4 i32)
    (param $dy1 i32) (param $dy2 i32) (param $dy3 i32) (param $dy4 i32) (param $ex i32) (param $ey i32)
    (param $x0 f64) (param $xPerRow f64) (param $y0 f64) (param $yPerRow f64) (param $sums i32)
    (local $y i32) (local $x i32) (local $o i32) (local $rowBytes i32) (local $toMantissa i32)
    (local $r0 i32) (local $r1 i32) (local $r2 i32) (local $r3 i32)
    (local $extra f64) (local $tailSum f64) (local $tailSquares f64)
    (local $xLanes v128) (local $yLanes v128) (local $xCarry i32) (local $yCarry i32) (local $last v128) (local $sizes v128)
    (local $sx v128) (local $sy v128) (local $cx v128) (local $cy v128)
    (local $ax v128) (local $ay v128) (local $at v128)
    (local $pa v128) (local $pb v128) (local $p00 v128) (local $p01 v128) (local $p10 v128) (local $p11 v128) (local $top v128) (local $v v128)
    (local $lo v128) (local $hi v128) (local $sum v128) (local $squares v128)
    (local.set $rowBytes (i32.shl (local.get $size) (i32.const 2)))
    (local.set $toMantissa (i32.sub (i32.const 23) (local.get $frac)))
    (local.set $xLanes (i32x4.replace_lane 3 (i32x4.replace_lane 2 (i32x4.replace_lane 1
      (v128.const i32x4 0 0 0 0) (local.get $dx1)) (local.get $dx2)) (local.get $dx3)))
    (local.set $yLanes (i32x4.replace_lane 3 (i32x4.replace_lane 2 (i32x4.replace_lane 1
      (v128.const i32x4 0 0 0 0) (local.get $dy1)) (local.get $dy2)) (local.get $dy3)))
    (local.set $last (i32x4.splat (i32.shl (i32.sub (local.get $size) (i32.const 1)) (local.get $frac))))
    (local.set $sizes (i32x4.splat (local.get $size)))
    (local.set $y (i32.const 0))
    (block $rowsDone (loop $rows
      (br_if $rowsDone (i32.ge_s (local.get $y) (local.get $size)))
      (local.set $o (i32.add (local.get $out) (i32.mul (local.get $y) (local.get $rowBytes))))
      (local.set $x (i32.const 0))
      (local.set $xCarry (i32.const 0x8000))
      (local.set $yCarry (i32.const 0x8000))
      ;; lane 0 at (0, y), rounded from float64 to fixed point
      (local.set $sx (i32x4.add (local.get $xLanes) (i32x4.splat (i32.trunc_sat_f64_s (f64.nearest
        (f64.add (local.get $x0) (f64.mul (local.get $xPerRow) (f64.convert_i32_s (local.get $y)))))))))
      (local.set $sy (i32x4.add (local.get $yLanes) (i32x4.splat (i32.trunc_sat_f64_s (f64.nearest
        (f64.add (local.get $y0) (f64.mul (local.get $yPerRow) (f64.convert_i32_s (local.get $y)))))))))
      (block $chunksDone (loop $chunks
        (br_if $chunksDone (i32.ge_s (local.get $x) (local.get $size)))
        ;; clamp to the image, split into whole pixel and fraction
        (local.set $cx (i32x4.min_s (i32x4.max_s (local.get $sx) (v128.const i32x4 0 0 0 0)) (local.get $last)))
        (local.set $cy (i32x4.min_s (i32x4.max_s (local.get $sy) (v128.const i32x4 0 0 0 0)) (local.get $last)))
        ;; the fraction bits moved into a float's mantissa: 1.fraction - 1 (exact)
        (local.set $ax (f32x4.sub (v128.or (v128.and (i32x4.shl (local.get $cx) (local.get $toMantissa))
          (v128.const i32x4 0x7fffff 0x7fffff 0x7fffff 0x7fffff)) (v128.const f32x4 1 1 1 1)) (v128.const f32x4 1 1 1 1)))
        (local.set $ay (f32x4.sub (v128.or (v128.and (i32x4.shl (local.get $cy) (local.get $toMantissa))
          (v128.const i32x4 0x7fffff 0x7fffff 0x7fffff 0x7fffff)) (v128.const f32x4 1 1 1 1)) (v128.const f32x4 1 1 1 1)))
        ;; byte offset of each lane's top-left corner, 4 (y0 size + x0), then its address
        (local.set $at (i32x4.shl (i32x4.add (i32x4.mul (i32x4.shr_s (local.get $cy) (local.get $frac)) (local.get $sizes))
          (i32x4.shr_s (local.get $cx) (local.get $frac))) (i32.const 2)))
        (local.set $r0 (i32.add (local.get $src) (i32x4.extract_lane 0 (local.get $at))))
        (local.set $r1 (i32.add (local.get $src) (i32x4.extract_lane 1 (local.get $at))))
        (local.set $r2 (i32.add (local.get $src) (i32x4.extract_lane 2 (local.get $at))))
        (local.set $r3 (i32.add (local.get $src) (i32x4.extract_lane 3 (local.get $at))))
        ;; each lane's two horizontal neighbours in one 8-byte read, per row; then the lanes sorted
        ;; into left (p00, p10) and right (p01, p11) corners
        (local.set $pa (v128.load64_lane 1 (local.get $r1) (v128.load64_zero (local.get $r0))))
        (local.set $pb (v128.load64_lane 1 (local.get $r3) (v128.load64_zero (local.get $r2))))
        (local.set $p00 (i8x16.shuffle 0 1 2 3 8 9 10 11 16 17 18 19 24 25 26 27 (local.get $pa) (local.get $pb)))
        (local.set $p01 (i8x16.shuffle 4 5 6 7 12 13 14 15 20 21 22 23 28 29 30 31 (local.get $pa) (local.get $pb)))
        (local.set $pa (v128.load64_lane 1 (i32.add (local.get $r1) (local.get $rowBytes))
          (v128.load64_zero (i32.add (local.get $r0) (local.get $rowBytes)))))
        (local.set $pb (v128.load64_lane 1 (i32.add (local.get $r3) (local.get $rowBytes))
          (v128.load64_zero (i32.add (local.get $r2) (local.get $rowBytes)))))
        (local.set $p10 (i8x16.shuffle 0 1 2 3 8 9 10 11 16 17 18 19 24 25 26 27 (local.get $pa) (local.get $pb)))
        (local.set $p11 (i8x16.shuffle 4 5 6 7 12 13 14 15 20 21 22 23 28 29 30 31 (local.get $pa) (local.get $pb)))
        ;; top = p00 + ax (p01 - p00); v = top + ay (p10 + ax (p11 - p10) - top)
        (local.set $top (f32x4.add (local.get $p00) (f32x4.mul (local.get $ax) (f32x4.sub (local.get $p01) (local.get $p00)))))
        (local.set $v (f32x4.add (local.get $top) (f32x4.mul (local.get $ay) (f32x4.sub
          (f32x4.add (local.get $p10) (f32x4.mul (local.get $ax) (f32x4.sub (local.get $p11) (local.get $p10))))
          (local.get $top)))))
        (v128.store (local.get $o) (local.get $v))
        (local.set $lo (f64x2.promote_low_f32x4 (local.get $v)))
        (local.set $hi (f64x2.promote_low_f32x4 (i8x16.shuffle 8 9 10 11 12 13 14 15 0 1 2 3 4 5 6 7 (local.get $v) (local.get $v))))
        (local.set $sum (f64x2.add (local.get $sum) (f64x2.add (local.get $lo) (local.get $hi))))
        (local.set $squares (f64x2.add (local.get $squares)
          (f64x2.add (f64x2.mul (local.get $lo) (local.get $lo)) (f64x2.mul (local.get $hi) (local.get $hi)))))
        ;; the next vector: dx4, plus what the rounding of dx4 left out as it adds up (ex, in 2^-16 units)
        (local.set $xCarry (i32.add (local.get $xCarry) (local.get $ex)))
        (local.set $yCarry (i32.add (local.get $yCarry) (local.get $ey)))
        (local.set $sx (i32x4.add (local.get $sx) (i32x4.splat (i32.add (local.get $dx4) (i32.shr_s (local.get $xCarry) (i32.const 16))))))
        (local.set $sy (i32x4.add (local.get $sy) (i32x4.splat (i32.add (local.get $dy4) (i32.shr_s (local.get $yCarry) (i32.const 16))))))
        (local.set $xCarry (i32.and (local.get $xCarry) (i32.const 0xffff)))
        (local.set $yCarry (i32.and (local.get $yCarry) (i32.const 0xffff)))
        (local.set $o (i32.add (local.get $o) (i32.const 16)))
        (local.set $x (i32.add (local.get $x) (i32.const 4)))
        (br $chunks)))
      ;; the lanes written past the row's end (size not a multiple of 4) leave the sums again
      (block $tailDone (loop $tail
        (br_if $tailDone (i32.ge_s (local.get $size) (local.get $x)))
        (local.set $x (i32.sub (local.get $x) (i32.const 1)))
        (local.set $extra (f64.promote_f32 (f32.load (i32.add (local.get $out)
          (i32.shl (i32.add (i32.mul (local.get $y) (local.get $size)) (local.get $x)) (i32.const 2))))))
        (local.set $tailSum (f64.add (local.get $tailSum) (local.get $extra)))
        (local.set $tailSquares (f64.add (local.get $tailSquares) (f64.mul (local.get $extra) (local.get $extra))))
        (br $tail)))
      (local.set $y (i32.add (local.get $y) (i32.const 1)))
      (br $rows)))
    (f64.store (local.get $sums) (f64.sub
      (f64.add (f64x2.extract_lane 0 (local.get $sum)) (f64x2.extract_lane 1 (local.get $sum))) (local.get $tailSum)))
    (f64.store offset=8 (local.get $sums) (f64.sub
      (f64.add (f64x2.extract_lane 0 (local.get $squares)) (f64x2.extract_lane 1 (local.get $squares))) (local.get $tailSquares)))
  )
  ;; lookUp(bytes, count, lut, dst): dst[p] = lut[bytes[p]] (f32) for p < count, read a 4-byte word
  ;; at a time; up to 3 values past count are written too (from the bytes after it, which the
  ;; caller provides).
  (func (export "lookUp") (param $bytes i32) (param $count i32) (param $lut i32) (param $dst i32)
    (local $p i32) (local $word i32)
    (block $done (loop $words
      (br_if $done (i32.ge_s (local.get $p) (local.get $count)))
      (local.set $word (i32.load (i32.add (local.get $bytes) (local.get $p))))
      (f32.store (local.get $dst) (f32.load (i32.add (local.get $lut) (i32.shl (i32.and (local.get $word) (i32.const 0xff)) (i32.const 2)))))
      (f32.store offset=4 (local.get $dst) (f32.load (i32.add (local.get $lut) (i32.and (i32.shr_u (local.get $word) (i32.const 6)) (i32.const 0x3fc)))))
      (f32.store offset=8 (local.get $dst) (f32.load (i32.add (local.get $lut) (i32.and (i32.shr_u (local.get $word) (i32.const 14)) (i32.const 0x3fc)))))
      (f32.store offset=12 (local.get $dst) (f32.load (i32.add (local.get $lut) (i32.and (i32.shr_u (local.get $word) (i32.const 22)) (i32.const 0x3fc)))))
      (local.set $dst (i32.add (local.get $dst) (i32.const 16)))
      (local.set $p (i32.add (local.get $p) (i32.const 4)))
      (br $words)))
  )
)
