// moe_train_checks.cpp — argument checks shared by the backends' moe_permute and moe_seq_aux_loss.
#include "engine/detail/moe_train_checks.h"

#include "engine/dtype.h"
#include "engine/error.h"

namespace engine {

namespace {

void expect(const char* op, const char* name, const TensorView& v, DType dtype, std::initializer_list<int64_t> shape,
            Device device) {
    bool ok = v.dtype == dtype && v.ndim == int(shape.size());
    int i = 0;
    for (int64_t d : shape) ok = ok && v.shape[size_t(i++)] == d;
    std::string want = "[";
    i = 0;
    for (int64_t d : shape) want += (i++ ? ", " : "") + std::to_string(d);
    want += "]";
    ENGINE_CHECK(ok, kInvalidArgument, op, ": ", name, " is ", dtype_name(v.dtype), " ", v.shape_str(), "; expected ",
                 dtype_name(dtype), " ", want);
    ENGINE_CHECK(v.is_contiguous(), kInvalidArgument, op, ": ", name, " ", v.shape_str(), " must be contiguous");
    ENGINE_CHECK(v.device == device, kInvalidArgument, op, ": ", name, " is on the wrong device");
    ENGINE_CHECK(v.numel() == 0 || v.data != nullptr, kInvalidArgument, op, ": ", name, " has no data");
}

}  // namespace

void check_moe_permute_args(const TensorView& rows, const TensorView& slot, const TensorView& scale,
                            const int64_t* offsets, int64_t E, const TensorView& idx, const TensorView& weights,
                            Device device) {
    ENGINE_CHECK(idx.ndim == 2, kInvalidArgument, "moe_permute: idx is ", idx.shape_str(), "; expected I32 [R, K]");
    const int64_t R = idx.shape[0], K = idx.shape[1];
    ENGINE_CHECK(E >= 1 && E <= (int64_t(1) << 20), kInvalidArgument, "moe_permute: ", E, " experts");
    ENGINE_CHECK(offsets != nullptr, kInvalidArgument, "moe_permute: offsets (E + 1 host values) is null");
    expect("moe_permute", "idx", idx, DType::I32, {R, K}, device);
    expect("moe_permute", "weights", weights, DType::F32, {R, K}, device);
    expect("moe_permute", "rows", rows, DType::I32, {R * K}, device);
    expect("moe_permute", "slot", slot, DType::I32, {R * K}, device);
    expect("moe_permute", "scale", scale, DType::F32, {R * K}, device);
}

void check_moe_aux_args(const TensorView& dlogits, const TensorView& logits, const TensorView& idx, int64_t B,
                        Device device) {
    ENGINE_CHECK(logits.ndim == 2 && idx.ndim == 2, kInvalidArgument, "moe_seq_aux_loss: logits ",
                 logits.shape_str(), " and idx ", idx.shape_str(), "; expected [R, E] and [R, K]");
    const int64_t R = logits.shape[0], E = logits.shape[1], K = idx.shape[1];
    ENGINE_CHECK(B >= 1 && R % B == 0, kInvalidArgument, "moe_seq_aux_loss: ", R, " rows are not ", B,
                 " sequences of equal length");
    expect("moe_seq_aux_loss", "logits", logits, DType::F32, {R, E}, device);
    expect("moe_seq_aux_loss", "dlogits", dlogits, DType::F32, {R, E}, device);
    expect("moe_seq_aux_loss", "idx", idx, DType::I32, {R, K}, device);
}

}  // namespace engine
