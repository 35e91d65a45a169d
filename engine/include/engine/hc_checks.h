// hc_checks.h — argument validation of the hyper-connection ops (Backend::hc_*), shared by the CPU and
// CUDA backends so both reject the same inputs with the same message.
#pragma once

#include <cstdint>

#include "engine/backend.h"

namespace engine::hc {

// Sizes of one hc_* call: T tokens, n streams, D hidden size (0 where the op has no D).
struct Dims {
    int64_t T = 0, n = 0, D = 0;
};

// Each throws Error(kInvalidArgument) naming the op, the view and its shape. Every view must be F32
// and contiguous; `post` / `mix` are not checked for HcParams::Kind::kHead.
Dims check_coeffs(const char* op, const TensorView& pre, const TensorView& post, const TensorView& mix,
                  const TensorView& m, const TensorView& base, const TensorView& scale, const HcParams& p);
Dims check_coeffs_backward(const char* op, const TensorView& dm, const TensorView& dbase, const TensorView& dscale,
                           const TensorView& dpre, const TensorView& dpost, const TensorView& dmix,
                           const TensorView& m, const TensorView& base, const TensorView& scale, const HcParams& p);
// X [T, n, D]; u [T, D] (any shape with T·D elements); pre with T·n elements.
Dims check_pre(const char* op, const TensorView& u, const TensorView& X, const TensorView& pre);
// Xout, X [T, n, D]; y [T, D]; post [T, n]; mix [T, n, n]; Xout and X must not overlap.
Dims check_post_res(const char* op, const TensorView& Xout, const TensorView& X, const TensorView& y,
                    const TensorView& post, const TensorView& mix);

// X [T, n, D]; fn [K, n·D] (any float dtype, rows contiguous); m [T, K]; rho [T].
Dims check_logits(const char* op, const TensorView& m, const TensorView& rho, const TensorView& X, const TensorView& fn);
// As check_logits, plus dm like m, dX like X, dfn [K, n·D] F32 when given.
Dims check_logits_backward(const char* op, const TensorView& dX, const TensorView& dfn, const TensorView& dm,
                           const TensorView& X, const TensorView& fn, const TensorView& m, const TensorView& rho);

}  // namespace engine::hc
