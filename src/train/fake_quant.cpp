#include "train/fake_quant.h"

#include "runtime/model_writer.h"

namespace edgelm::train {

namespace {

// The f16 a scale is stored as, back in f32.
torch::Tensor through_f16(const torch::Tensor& d) {
    return d.to(torch::kHalf).to(torch::kFloat);
}

// ggml's quantize_row_q8_0_ref: d = amax / 127, q = roundf(x / d), value q * f16(d).
torch::Tensor q8_0_values(const torch::Tensor& x) {  // x: (blocks, 32) f32
    const torch::Tensor amax = std::get<0>(x.abs().max(1, true));
    const torch::Tensor d = amax / 127.0f;
    const torch::Tensor id = torch::where(d != 0, 1.0f / d, torch::zeros_like(d));
    const torch::Tensor v = x * id;
    // roundf: halves away from zero (torch::round rounds them to even).
    const torch::Tensor t = torch::trunc(v);
    const torch::Tensor q =
        t + torch::where((v - t).abs() >= 0.5f, torch::sign(v), torch::zeros_like(v));
    return q * through_f16(d);
}

// ggml's quantize_row_q4_0_ref: d = (the signed value of largest magnitude, the first one
// on ties) / -8, q = min(15, (int)(x / d + 8.5)), value (q - 8) * f16(d).
torch::Tensor q4_0_values(const torch::Tensor& x) {
    const torch::Tensor at = x.abs().argmax(1, true);
    const torch::Tensor max = x.gather(1, at);
    const torch::Tensor d = max / -8.0f;
    const torch::Tensor id = torch::where(d != 0, 1.0f / d, torch::zeros_like(d));
    const torch::Tensor q = torch::clamp_max(torch::trunc(x * id + 8.5f), 15.0f);
    return (q - 8.0f) * through_f16(d);
}

// Q4_K's super-blocks choose their scales and minimums by ggml's iterative search
// (make_qkx2_quants), which has no short tensor form: the runtime's own encoder and decoder
// round the matrix, on the CPU, once per forward pass.
torch::Tensor through_runtime_codec(const torch::Tensor& w, DType type) {
    const torch::Tensor x = w.detach().to(torch::kFloat).contiguous();
    const std::vector<uint8_t> bytes = encode_tensor(x.data_ptr<float>(), x.numel(), type);
    torch::Tensor out = torch::empty_like(x);
    type_traits(type).to_float(bytes.data(), out.data_ptr<float>(), x.numel());
    return out;
}

}  // namespace

bool qat_supports(DType type) {
    return type == DType::Q8_0 || type == DType::Q4_0 || type == DType::Q4_K;
}

torch::Tensor fake_quantize(const torch::Tensor& w, DType type) {
    if (!qat_supports(type) || w.dim() != 2) return w;
    // The type the exporter stores this matrix as (a k-quant falls back on rows that are
    // not whole 256-blocks).
    const DType stored = storage_type_for({w.size(1), w.size(0)}, type);
    if (stored != DType::Q8_0 && stored != DType::Q4_0 && stored != DType::Q4_K) return w;
    torch::Tensor rounded;
    {
        torch::NoGradGuard no_grad;
        if (stored == DType::Q4_K) {
            rounded = through_runtime_codec(w, stored).to(w.scalar_type());
        } else {
            const torch::Tensor blocks = w.detach().to(torch::kFloat).reshape({-1, 32});
            rounded = (stored == DType::Q8_0 ? q8_0_values(blocks) : q4_0_values(blocks))
                          .reshape(w.sizes())
                          .to(w.scalar_type());
        }
    }
    // Straight through: the forward value is the rounded weight, the gradient goes to w.
    // (rounded + (w - w) is exactly `rounded`; w + (rounded - w) can miss it by an ulp.)
    return rounded + (w - w.detach());
}

}  // namespace edgelm::train
