// ops_test.cpp — the CPU backend's small ops against scalar references: rmsnorm (F32/F16/BF16 weights,
// strided rows), rope (pairs layout, attn_factor, 2-D and 3-D), silu_mul, add, axpy, fill, embedding,
// gather_rows / scatter_add_rows (repeated rows), and validation errors.
#include <gtest/gtest.h>

#include "cpu_test_util.h"

namespace engine::test {
namespace {

void expect_close(double got, double want, double mag, const std::string& what) {
    EXPECT_LE(std::fabs(got - want), 1e-5 * std::max(1.0, mag)) << what << ": got " << got << ", want " << want;
}

TEST(RmsNorm, MatchesReferenceForEveryWeightDtypeAndStridedRows) {
    auto be = make_cpu_backend(2);
    std::mt19937 rng(42);
    for (DType wdt : {DType::F32, DType::BF16, DType::F16})
        for (int64_t n : {int64_t(1), int64_t(13), int64_t(512), int64_t(2051)}) {
            const int64_t rows = 37;
            Tensor xb = random_f32(rng, {rows, n + 3}, -3.0f, 3.0f);
            TensorView x = xb.view().slice_last(2, 2 + n);
            Tensor w = random_of(rng, wdt, {n}, 0.5f, 1.5f);
            Tensor y = Tensor::cpu(DType::F32, {rows, n});
            const float eps = 1e-6f;
            be->rmsnorm(y, x, w, eps);
            for (int64_t r = 0; r < rows; ++r) {
                double ss = 0.0;
                for (int64_t i = 0; i < n; ++i) ss += double(load(x, r * n + i)) * load(x, r * n + i);
                const double inv = 1.0 / std::sqrt(ss / double(n) + eps);
                for (int64_t i = 0; i < n; ++i) {
                    const double want = double(load(w, i)) * load(x, r * n + i) * inv;
                    expect_close(y.as<float>()[r * n + i], want, std::fabs(want),
                                 std::string("rmsnorm ") + dtype_name(wdt) + " n=" + std::to_string(n));
                }
            }
        }
}

TEST(RmsNorm, Validation) {
    auto be = make_cpu_backend(1);
    Tensor x = Tensor::cpu(DType::F32, {3, 8});
    Tensor w = Tensor::cpu(DType::F32, {7});
    expect_invalid([&] { be->rmsnorm(x, x, w, 1e-6f); }, {"rmsnorm", "x [3, 8]", "w [7]"});
    Tensor y = Tensor::cpu(DType::F32, {3, 9});
    Tensor w8 = Tensor::cpu(DType::F32, {8});
    expect_invalid([&] { be->rmsnorm(y, x, w8, 1e-6f); }, {"rmsnorm", "y [3, 9]", "x [3, 8]"});
}

TEST(Rope, RotatesAdjacentPairsWithAttnFactor) {
    auto be = make_cpu_backend(2);
    std::mt19937 rng(9);
    for (int nd : {2, 3}) {
        const int64_t T = 11, heads = nd == 3 ? 3 : 1, d = 16;
        Tensor xb = nd == 3 ? random_f32(rng, {T, heads, d + 4}) : random_f32(rng, {T, d + 4});
        TensorView x = xb.view().slice_last(4, 4 + d);  // the rope part of a wider q/k row
        Tensor x0 = Tensor::cpu(DType::F32, {T * heads * d});
        for (int64_t i = 0; i < T * heads * d; ++i) x0.as<float>()[i] = load(x, i);
        Tensor pos = Tensor::cpu(DType::I32, {T});
        for (int64_t t = 0; t < T; ++t) pos.as<int32_t>()[t] = int32_t(t * 37 + 5);
        Tensor inv = Tensor::cpu(DType::F32, {d / 2});
        for (int64_t i = 0; i < d / 2; ++i) inv.as<float>()[i] = float(std::pow(10000.0, -2.0 * double(i) / double(d)));
        const float attn_factor = 1.25f;
        be->rope(x, pos, inv, attn_factor);
        for (int64_t t = 0; t < T; ++t)
            for (int64_t h = 0; h < heads; ++h)
                for (int64_t i = 0; i < d / 2; ++i) {
                    const float angle = float(pos.as<int32_t>()[t]) * inv.as<float>()[i];  // fp32 product
                    const double c = std::cos(double(angle)) * attn_factor, s = std::sin(double(angle)) * attn_factor;
                    const int64_t base = (t * heads + h) * d + 2 * i;
                    const double a = x0.as<float>()[base], b = x0.as<float>()[base + 1];
                    expect_close(load(x, base), a * c - b * s, 2.0, "rope even");
                    expect_close(load(x, base + 1), a * s + b * c, 2.0, "rope odd");
                }
        // Untouched prefix of the wider rows.
        Tensor probe = Tensor::cpu(DType::F32, {1});
        (void)probe;
    }
}

TEST(Rope, Validation) {
    auto be = make_cpu_backend(1);
    Tensor x = Tensor::cpu(DType::F32, {4, 2, 6});
    Tensor pos = Tensor::cpu(DType::I32, {3});
    Tensor inv = Tensor::cpu(DType::F32, {3});
    expect_invalid([&] { be->rope(x, pos, inv, 1.0f); }, {"rope", "x [4, 2, 6]", "positions [3]"});
    Tensor pos4 = Tensor::cpu(DType::I32, {4});
    Tensor inv2 = Tensor::cpu(DType::F32, {2});
    expect_invalid([&] { be->rope(x, pos4, inv2, 1.0f); }, {"rope", "inv_freq [2]"});
    Tensor posf = Tensor::cpu(DType::F32, {4});
    expect_invalid([&] { be->rope(x, posf, inv, 1.0f); }, {"rope", "positions", "I32"});
}

TEST(Elementwise, SiluMulAddAxpy) {
    auto be = make_cpu_backend(2);
    std::mt19937 rng(77);
    const int64_t rows = 50, n = 1031;  // > 2^15 elements: the OpenMP path
    Tensor gb = random_f32(rng, {rows, n + 1}, -6.0f, 6.0f);
    TensorView gate = gb.view().slice_last(1, 1 + n);
    Tensor up = random_f32(rng, {rows, n});
    Tensor out = Tensor::cpu(DType::F32, {rows, n});
    be->silu_mul(out, gate, up);
    for (int64_t i = 0; i < rows * n; ++i) {
        const double g = load(gate, i);
        const double want = g / (1.0 + std::exp(-g)) * up.as<float>()[i];
        expect_close(out.as<float>()[i], want, std::fabs(want), "silu_mul");
    }
    Tensor a = random_f32(rng, {rows, n});
    Tensor b = random_f32(rng, {rows, n});
    Tensor a0 = Tensor::cpu(DType::F32, {rows, n});
    be->copy(a0, a);
    be->add(a, a, b);  // y aliases a
    for (int64_t i = 0; i < rows * n; ++i)
        EXPECT_EQ(a.as<float>()[i], a0.as<float>()[i] + b.as<float>()[i]);
    be->axpy(a, b, -0.5f);
    for (int64_t i = 0; i < rows * n; ++i)
        expect_close(a.as<float>()[i], double(a0.as<float>()[i]) + 0.5 * b.as<float>()[i], 2.0, "axpy");
    Tensor m = Tensor::cpu(DType::F32, {rows, n});
    be->mul(m, a, b);
    for (int64_t i = 0; i < rows * n; ++i) EXPECT_EQ(m.as<float>()[i], a.as<float>()[i] * b.as<float>()[i]);
    Tensor c = Tensor::cpu(DType::F32, {rows, n + 1});
    expect_invalid([&] { be->mul(c, a, b); }, {"mul", "y [50, 1032]", "a [50, 1031]", "shapes differ"});
    expect_invalid([&] { be->add(c, a, b); }, {"add", "y [50, 1032]", "a [50, 1031]", "shapes differ"});
    expect_invalid([&] { be->axpy(c, b, 1.0f); }, {"axpy", "y [50, 1032]"});
    expect_invalid([&] { be->silu_mul(out, c, up); }, {"silu_mul", "gate [50, 1032]"});
}

TEST(Elementwise, FillEveryDtypeAndStridedView) {
    auto be = make_cpu_backend(2);
    Tensor f = Tensor::cpu(DType::F32, {3, 10});
    be->fill(f.view().slice_last(2, 7), 1.5f);
    for (int64_t r = 0; r < 3; ++r)
        for (int64_t j = 0; j < 10; ++j) EXPECT_EQ(f.as<float>()[r * 10 + j], (j >= 2 && j < 7) ? 1.5f : 0.0f);
    Tensor h = Tensor::cpu(DType::BF16, {4, 9});
    be->fill(h, 0.1f);
    for (int i = 0; i < 36; ++i) EXPECT_EQ(h.as<uint16_t>()[i], f32_to_bf16(0.1f));
    Tensor g = Tensor::cpu(DType::F16, {5});
    be->fill(g, -2.7f);
    for (int i = 0; i < 5; ++i) EXPECT_EQ(g.as<uint16_t>()[i], f32_to_f16(-2.7f));
    Tensor ids = Tensor::cpu(DType::I32, {6});
    be->fill(ids, 7.0f);
    for (int i = 0; i < 6; ++i) EXPECT_EQ(ids.as<int32_t>()[i], 7);
    expect_invalid([&] { be->fill(ids, 0.5f); }, {"fill", "I32"});
}

TEST(Embedding, LooksUpRowsOfAnyFloatTable) {
    auto be = make_cpu_backend(2);
    std::mt19937 rng(3);
    for (DType dt : {DType::F32, DType::BF16, DType::F16}) {
        const int64_t V = 50, D = 37, T = 9;
        Tensor table = random_of(rng, dt, {V, D});
        Tensor ids = Tensor::cpu(DType::I32, {T});
        for (int64_t t = 0; t < T; ++t) ids.as<int32_t>()[t] = int32_t((t * 17 + 3) % V);
        Tensor out = Tensor::cpu(DType::F32, {T, D});
        be->embedding(out, table, ids);
        for (int64_t t = 0; t < T; ++t)
            for (int64_t i = 0; i < D; ++i)
                EXPECT_EQ(out.as<float>()[t * D + i], load(table, ids.as<int32_t>()[t] * D + i));
        ids.as<int32_t>()[4] = int32_t(V);
        expect_invalid([&] { be->embedding(out, table, ids); }, {"embedding", "ids[4] = 50", "[50, 37]"});
        ids.as<int32_t>()[4] = -1;
        expect_invalid([&] { be->embedding(out, table, ids); }, {"embedding", "ids[4] = -1"});
    }
}

TEST(GatherScatter, GatherRowsAndScatterAddWithRepeats) {
    auto be = make_cpu_backend(2);
    std::mt19937 rng(12);
    const int64_t R = 10, n = 14, D = 300;  // D > one 256-column chunk
    Tensor src = random_f32(rng, {R, D});
    Tensor rows = Tensor::cpu(DType::I32, {n});
    for (int64_t i = 0; i < n; ++i) rows.as<int32_t>()[i] = int32_t((i * 3) % 7);  // repeats
    Tensor gathered = Tensor::cpu(DType::F32, {n, D});
    be->gather_rows(gathered, src, rows);
    for (int64_t i = 0; i < n; ++i)
        for (int64_t j = 0; j < D; ++j)
            EXPECT_EQ(gathered.as<float>()[i * D + j], src.as<float>()[rows.as<int32_t>()[i] * D + j]);

    Tensor dst = random_f32(rng, {R, D});
    std::vector<double> want(size_t(R * D));
    for (int64_t i = 0; i < R * D; ++i) want[size_t(i)] = dst.as<float>()[i];
    Tensor scale = random_f32(rng, {n});
    Tensor upd = random_f32(rng, {n, D});
    for (int64_t i = 0; i < n; ++i)
        for (int64_t j = 0; j < D; ++j)
            want[size_t(rows.as<int32_t>()[i] * D + j)] += double(scale.as<float>()[i]) * upd.as<float>()[i * D + j];
    be->scatter_add_rows(dst, upd, rows, scale);
    for (int64_t i = 0; i < R * D; ++i) expect_close(dst.as<float>()[i], want[size_t(i)], 4.0, "scatter_add_rows");

    rows.as<int32_t>()[2] = int32_t(R);
    expect_invalid([&] { be->gather_rows(gathered, src, rows); }, {"gather_rows", "rows[2] = 10", "src [10, 300]"});
    expect_invalid([&] { be->scatter_add_rows(dst, upd, rows, scale); }, {"scatter_add_rows", "rows[2] = 10"});
    Tensor scale_bad = Tensor::cpu(DType::F32, {n - 1});
    rows.as<int32_t>()[2] = 0;
    expect_invalid([&] { be->scatter_add_rows(dst, upd, rows, scale_bad); }, {"scatter_add_rows", "scale [13]"});
}

}  // namespace
}  // namespace engine::test
