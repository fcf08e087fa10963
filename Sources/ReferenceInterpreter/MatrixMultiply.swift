import GraphIR

/// The fp32 matrix products under Conv, Gemm and MatMul. Plain loops,
/// blocked so that the interpreter runs a ResNet-50 in seconds rather than
/// minutes; accumulation is in fp32 as on the accelerator.
enum MatrixMultiply {
    /// Rows of B (the reduction axis) per block: a block of B stays in cache
    /// while every row of C passes over it.
    static let reductionBlock = 256
    /// Columns of C per block.
    static let columnBlock = 512

    /// `c[i, j] += sum over p of a[i, p] * b[p, j]` for `i` in `rows`,
    /// `j` in `0..<n`, `p` in `0..<k`; row-major with leading dimensions.
    static func accumulate(
        rows: Range<Int>, n: Int, k: Int,
        a: UnsafePointer<Float>, lda: Int,
        b: UnsafePointer<Float>, ldb: Int,
        c: UnsafeMutablePointer<Float>, ldc: Int
    ) {
        var k0 = 0
        while k0 < k {
            let k1 = min(k, k0 + reductionBlock)
            var j0 = 0
            while j0 < n {
                let width = min(n - j0, columnBlock)
                var i = rows.lowerBound
                // Four rows of C at a time: each loaded row of B is used four times.
                while i + 4 <= rows.upperBound {
                    let c0 = c + i * ldc + j0, c1 = c0 + ldc, c2 = c1 + ldc, c3 = c2 + ldc
                    let a0 = a + i * lda, a1 = a0 + lda, a2 = a1 + lda, a3 = a2 + lda
                    for p in k0..<k1 {
                        let x0 = a0[p], x1 = a1[p], x2 = a2[p], x3 = a3[p]
                        let bp = b + p * ldb + j0
                        for j in 0..<width {
                            let y = bp[j]
                            c0[j] += x0 * y
                            c1[j] += x1 * y
                            c2[j] += x2 * y
                            c3[j] += x3 * y
                        }
                    }
                    i += 4
                }
                while i < rows.upperBound {
                    let ci = c + i * ldc + j0, ai = a + i * lda
                    for p in k0..<k1 {
                        let x = ai[p]
                        let bp = b + p * ldb + j0
                        for j in 0..<width { ci[j] += x * bp[j] }
                    }
                    i += 1
                }
                j0 += width
            }
            k0 = k1
        }
    }

    /// `sum over i of x[i] * y[i]` for `i` in `0..<count`.
    static func dot(_ x: UnsafePointer<Float>, _ y: UnsafePointer<Float>, _ count: Int) -> Float {
        var lanes = SIMD8<Float>()
        var i = 0
        while i + 8 <= count {
            let u = UnsafeRawPointer(x + i).loadUnaligned(as: SIMD8<Float>.self)
            let v = UnsafeRawPointer(y + i).loadUnaligned(as: SIMD8<Float>.self)
            lanes.addProduct(u, v)
            i += 8
        }
        var sum = lanes.sum()
        while i < count {
            sum += x[i] * y[i]
            i += 1
        }
        return sum
    }

    /// `c[m x n] += a[m x k] * b`, where b is `k x n`, or `n x k` when
    /// `transposedB` (the usual layout of fully connected weights, read as
    /// dot products so it need not be transposed). Spread over the cores.
    static func multiply(m: Int, n: Int, k: Int, a: [Float], b: [Float], transposedB: Bool, into c: inout [Float]) {
        precondition(a.count >= m * k && b.count >= k * n && c.count >= m * n)
        guard m > 0, n > 0, k > 0 else { return }
        a.withUnsafeBufferPointer { a in
            b.withUnsafeBufferPointer { b in
                let pa = a.baseAddress!, pb = b.baseAddress!
                if transposedB {
                    let parts = Parallel.chunks(n, parts: n * k * m >= 1 << 16 ? Parallel.width * 4 : 1)
                    Parallel.forEach(parts.count, writing: &c) { task, out in
                        for i in 0..<m {
                            for j in parts[task] {
                                out[i * n + j] += dot(pa + i * k, pb + j * k, k)
                            }
                        }
                    }
                } else if m >= 4 * Parallel.width {
                    let parts = Parallel.chunks(m, parts: Parallel.width * 2)
                    Parallel.forEach(parts.count, writing: &c) { task, out in
                        let rows = parts[task]
                        accumulate(
                            rows: rows, n: n, k: k, a: pa, lda: k, b: pb, ldb: n,
                            c: out.pointer(at: 0, length: m * n), ldc: n)
                    }
                } else {
                    // Few rows: split the columns instead.
                    let parts = Parallel.chunks(n, parts: n * k * m >= 1 << 16 ? Parallel.width * 2 : 1)
                    Parallel.forEach(parts.count, writing: &c) { task, out in
                        let columns = parts[task]
                        accumulate(
                            rows: 0..<m, n: columns.count, k: k, a: pa, lda: k, b: pb + columns.lowerBound, ldb: n,
                            c: out.pointer(at: 0, length: m * n) + columns.lowerBound, ldc: n)
                    }
                }
            }
        }
    }
}
