import CKernels
import COpenBLAS
import Foundation

// The executor's matrix products, on fp32 SRAM words through OpenBLAS's
// sgemm. Large products are split over the cores by rows or columns of the
// result, each part one single-threaded sgemm, so that one thread pool
// (`Parallel`, CKernels' workers) runs all of the executor's parallel work.

enum GEMM {
    /// `c = a * b + beta * c` for row-major `a` (m x k), `b` (k x n, or
    /// n x k when `transposedB`) and `c` (m x n), with leading dimensions;
    /// `beta` is 0 (c is only written) or 1 (accumulate). `finish(rows,
    /// columns)` runs on each finished part of c, on the core that computed
    /// it while the part is still in its cache (bias and activation); the
    /// parts cover c once.
    static func multiply(
        m: Int, n: Int, k: Int,
        a: UnsafePointer<Float>, lda: Int,
        b: UnsafePointer<Float>, ldb: Int, transposedB: Bool = false,
        c: UnsafeMutablePointer<Float>, ldc: Int, beta: Float,
        finish: (Range<Int>, Range<Int>) -> Void = { _, _ in }
    ) {
        guard m > 0, n > 0 else { return }
        _ = GEMM.singleThreaded
        // Split the larger of the rows and the columns of c over the cores.
        let ways = m * n * max(k, 1) >= 1 << 18 ? Parallel.width : 1
        let byRows = m >= n
        // Columns split at whole 16-lane vectors of the AVX-512 tiles (two of the AVX2 tiles' vectors).
        let unit = byRows || !vectorized ? 1 : 16
        let parts = Parallel.chunks((byRows ? m : n + unit - 1) / unit, parts: ways).map {
            $0.lowerBound * unit..<min(byRows ? m : n, $0.upperBound * unit)
        }
        Parallel.run(parts.count) { part in
            let (rows, columns) = byRows ? (parts[part], 0..<n) : (0..<m, parts[part])
            let cPart = c + rows.lowerBound * ldc + columns.lowerBound
            if k == 0 {
                if beta == 0 {
                    for i in 0..<rows.count { (cPart + i * ldc).update(repeating: 0, count: columns.count) }
                }
            } else if !transposedB && GEMM.vectorized {
                dfc_sgemm(
                    rows.count, columns.count, k, a + rows.lowerBound * lda, lda, b + columns.lowerBound, ldb, cPart,
                    ldc, beta == 0 ? 0 : 1)
            } else if transposedB && rows.count == 1 {
                // One row of a against the rows of b (a MATMUL of one row): OpenBLAS's sgemv, 5 to 8 times
                // faster than its sgemm with m = 1 on AlexNet's parts (28 x 9216: 36 against 204 us, one core).
                // c is zeroed first rather than given beta 0, which some OpenBLAS versions multiply by.
                if beta == 0 { cPart.update(repeating: 0, count: columns.count) }
                cblas_sgemv(
                    CblasRowMajor, CblasNoTrans, Int32(columns.count), Int32(k), 1, b + columns.lowerBound * ldb,
                    Int32(ldb), a + rows.lowerBound * lda, 1, 1, cPart, 1)
            } else {
                let aPart = a + rows.lowerBound * lda
                let bPart = transposedB ? b + columns.lowerBound * ldb : b + columns.lowerBound
                cblas_sgemm(
                    CblasRowMajor, CblasNoTrans, transposedB ? CblasTrans : CblasNoTrans,
                    Int32(rows.count), Int32(columns.count), Int32(k), 1, aPart, Int32(lda), bPart, Int32(ldb), beta,
                    cPart, Int32(ldc))
            }
            finish(rows, columns)
        }
    }

    /// `c = a * b (+ c when accumulating)` on CKernels' AVX-512 tiles with `epilogue` applied to each
    /// result as it is stored (`dfc_epilogue`: bias by row, adding onto the stored value, ReLU or Clip,
    /// and a placement of columns in rows that are not adjacent), split over the cores as `multiply`
    /// (by rows only when the epilogue places columns). `after(rows, columns)` runs on each finished
    /// part. False, and nothing written, where it does not run: no AVX-512 (`wide`), or a placement
    /// with `accumulate`.
    static func multiplyFinished(
        m: Int, n: Int, k: Int,
        a: UnsafePointer<Float>, lda: Int, b: UnsafePointer<Float>, ldb: Int,
        c: UnsafeMutablePointer<Float>, ldc: Int, accumulate: Bool, epilogue: dfc_epilogue,
        after: (Range<Int>, Range<Int>) -> Void = { _, _ in }
    ) -> Bool {
        let placed = epilogue.width > 0
        guard wide, !placed || !accumulate else { return false }
        guard m > 0, n > 0 else { return true }
        let ways = m * n * max(k, 1) >= 1 << 18 ? Parallel.width : 1
        let byRows = placed || m >= n
        let unit = byRows ? 1 : 16
        let parts = Parallel.chunks((byRows ? m : n + unit - 1) / unit, parts: ways).map {
            $0.lowerBound * unit..<min(byRows ? m : n, $0.upperBound * unit)
        }
        Parallel.run(parts.count) { part in
            let (rows, columns) = byRows ? (parts[part], 0..<n) : (0..<m, parts[part])
            var e = epilogue
            e.bias = epilogue.bias.map { $0 + rows.lowerBound }
            let cPart = c + rows.lowerBound * ldc + (placed ? 0 : columns.lowerBound)
            _ = dfc_sgemm_finished(
                rows.count, columns.count, k, a + rows.lowerBound * lda, lda, b + columns.lowerBound, ldb, cPart, ldc,
                accumulate ? 1 : 0, &e)
            after(rows, columns)
        }
        return true
    }

    /// Whether products with b not transposed (every CONV's) run on CKernels' tiles, AVX-512 or AVX2,
    /// instead of OpenBLAS: on ResNet-50's band products (32 to 512 rows, 28 to 784 columns, k 64 to 1152)
    /// one core does 88 to 112 GFLOP/s with the AVX-512 tiles against 72 to 111 with OpenBLAS's sgemm
    /// (0.3.21, its Cooperlake kernels), 97 against 74 on the 28-column products of the last stages, where
    /// OpenBLAS packs most; gemm.c has the AVX2 tiles' figures against its Zen kernels.
    static let vectorized = dfc_gemm_available() != 0

    /// Whether CONVs run on CKernels' packed panels (`Machine.convPanels`): AVX2 and FMA without AVX-512,
    /// where the AVX-512 tiles and their finishing epilogue do not run.
    static let packsPanels = vectorized && !wide

    /// Whether CKernels' products finished as they are stored (`multiplyFinished`) run: AVX-512 only.
    static let wide = dfc_gemm_finishing() != 0

    /// OpenBLAS's own threads stay off: the parts above are the parallelism.
    /// The pthreads build starts its pool when the library loads, and idle
    /// workers spin in sched_yield for a while (22% of `dfc run`'s samples
    /// on MobileNetV2, a core taken from the executor), so the pool is shut
    /// down too, where the library has the call (looked up: other builds
    /// of OpenBLAS lack it).
    static let singleThreaded: Void = {
        openblas_set_num_threads(1)
        if let shutdown = dlsym(UnsafeMutableRawPointer(bitPattern: 0), "blas_thread_shutdown_") {
            _ = unsafeBitCast(shutdown, to: (@convention(c) () -> Int32).self)()
        }
    }()
}

/// Stops OpenBLAS's idle threads (see `GEMM.singleThreaded`): the first
/// thing a `dfc` process does. The pool starts when the library loads and
/// its workers spin in sched_yield for about 110 ms of a core before they
/// sleep; on two cores that was most of one during a compile's first tenth
/// of a second, which never calls OpenBLAS.
public func stopIdleBLASThreads() { _ = GEMM.singleThreaded }

/// Tasks over the cores for the executor's kernels, on CKernels' workers
/// (`dfc_parallel.h` says why not Dispatch).
enum Parallel {
    /// How many ways to split work: the threads that run a task list.
    static let width = dfc_parallel_width()

    /// Runs `body` with the workers awake between tasks (`dfc_parallel_hold`): the executor's
    /// instructions are split into parts of tens of microseconds, with a few microseconds of the
    /// caller's own work between them, where a worker that went to sleep misses the next split.
    static func holdingWorkers<T>(_ body: () throws -> T) rethrows -> T {
        dfc_parallel_hold(1)
        defer { dfc_parallel_hold(0) }
        return try body()
    }

    /// Splits `0..<count` into at most `parts` contiguous, non-empty ranges.
    static func chunks(_ count: Int, parts: Int) -> [Range<Int>] {
        let n = max(1, min(parts, count))
        return (0..<n).map { i in (count * i / n)..<(count * (i + 1) / n) }
    }

    /// Runs `task(i)` for every `i` in `0..<tasks`, on the cores when there is
    /// more than one. Tasks must write disjoint memory: that contract, not the
    /// type system, makes this safe.
    static func run(_ tasks: Int, _ task: (Int) -> Void) {
        guard tasks > 1 else {
            if tasks == 1 { task(0) }
            return
        }
        withoutActuallyEscaping(task) { task in
            var body = task
            withUnsafeMutablePointer(to: &body) { context in
                dfc_parallel_run(
                    tasks,
                    { context, index in
                        context!.assumingMemoryBound(to: ((Int) -> Void).self).pointee(index)
                    }, context)
            }
        }
    }
}

/// The row kernels of CKernels (AVX2 and FMA where the CPU has them, checked
/// there), on SRAM words.
enum Kernels {
    /// Whether CKernels' whole-instruction kernels take their AVX-512 paths.
    static let avx512 = dfc_kernels_avx512() != 0
    /// Whether they take AVX2 and FMA paths at least (the depthwise CONV's, where `avx512` is false).
    static let vectorized = dfc_kernels_vectorized() != 0

    /// o[j] += w * x[j * stride] for j < n.
    @inline(__always) static func axpy(
        _ o: UnsafeMutablePointer<Float>, _ x: UnsafePointer<Float>, stride: Int, _ w: Float, _ n: Int
    ) {
        dfc_axpy_strided(o, x, stride, w, n)
    }

    /// o[j] = max(o[j], x[j * stride]) for j < n.
    @inline(__always) static func max(
        _ o: UnsafeMutablePointer<Float>, _ x: UnsafePointer<Float>, stride: Int, _ n: Int
    ) {
        dfc_max_strided(o, x, stride, n)
    }

    /// o[j] += x[j * stride] for j < n.
    @inline(__always) static func add(
        _ o: UnsafeMutablePointer<Float>, _ x: UnsafePointer<Float>, stride: Int, _ n: Int
    ) {
        dfc_add_strided(o, x, stride, n)
    }
}
