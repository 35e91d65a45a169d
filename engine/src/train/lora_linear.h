// lora_linear.h — a Linear layer y = x·Wᵀ of the trainable model with its optional LoRA adapter
// (y += (alpha/r)·dropout(x)·Aᵀ·Bᵀ) and frozen base weights (no weight gradient when P.g is empty).
// Call order per step: linear_forward, then in the backward linear_weight_grad before linear_input_grad
// (the input gradient reuses scale·dy·B computed by the weight gradient).
#pragma once

#include "train/train_model_layers.h"

namespace engine::train {

// y [n, out] = x [n, in] · Wᵀ (+ adapter). x and y contiguous 2-D.
void linear_forward(Ctx& c, const P& p, const TensorView& y, const TensorView& x);
// dW += dyᵀ·x when W trains; dA, dB of the adapter.      dy [n, out], x [n, in]
void linear_weight_grad(Ctx& c, const P& p, const TensorView& dy, const TensorView& x);
// dx [n, in] (+)= dy·W (+ the adapter path, through the dropout mask).
void linear_input_grad(Ctx& c, const P& p, const TensorView& dx, const TensorView& dy, bool accumulate = false);

}  // namespace engine::train
