// moe_train_checks.h — the argument checks of Backend::moe_permute and Backend::moe_seq_aux_loss,
// shared by the CPU and CUDA backends (latent_core). Each throws kInvalidArgument naming the operand,
// its dtype and shape, and what was expected; `device` is where the tensors must be.
#pragma once

#include <cstdint>

#include "engine/tensor.h"

namespace engine {

// idx I32 [R, K], weights F32 [R, K], rows/slot I32 [R·K], scale F32 [R·K], all contiguous; E >= 1;
// offsets non-null.
void check_moe_permute_args(const TensorView& rows, const TensorView& slot, const TensorView& scale,
                            const int64_t* offsets, int64_t E, const TensorView& idx, const TensorView& weights,
                            Device device);

// logits F32 [R, E] and dlogits F32 [R, E] contiguous, idx I32 [R, K], B >= 1 dividing R.
void check_moe_aux_args(const TensorView& dlogits, const TensorView& logits, const TensorView& idx, int64_t B,
                        Device device);

}  // namespace engine
