// Fused CPU free run of DynaMix: every step of every batch row in one call.
//
// A free run is a strictly sequential map z -> z' per batch row; in PyTorch each step costs ~20
// small ops (~0.2 ms of dispatch, for a few microseconds of arithmetic). Here one batch row is one
// task of `at::parallel_for`, stepped with its buffers allocated once, before the first step:
//
//   z_obs = D z + sigma * eps_t                     (N)
//   a     = softmax_t(-|keys_t - z_obs|_1 / |tau_a|)   over the T context times
//   e     = sum_t a_t values_t                      (N)
//   w     = softmax(-mlp2 relu(mlp1 [e; z]) / |tau_g|)  over the J experts
//   z'    = sum_j w_j (A_j * z + h_j) + sum_j sum_k (w_j phi_k) W_j[:, k],   phi = max(z, floor)
//
// The context is read time-major per observed dimension (keys and values transposed once to
// (B, N, T)), so the distance, exp and weighted-sum loops run over contiguous T; W is transposed
// once to (J, K, M) so the expert sum is J*M contiguous axpys over M. Softmaxes subtract their
// maximum (the exponents are <= 0). float: a vectorised exp of our own; double: std::exp.
//
// Layouts (contiguous, one dtype): z0 (B, M); keys, values (B, T, N); noise (S, B, N), the
// pre-drawn eps of every step; A, h (J, M); W (J, M, M); floor (M,); D (N, M); sigma (N,);
// mlp1 (J, N + M); mlp2 (J, J). Returns out (B, S, N), the first N units after each step.
#include <torch/extension.h>

#include <ATen/Parallel.h>

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <cstring>
#include <limits>
#include <vector>

namespace {

// 32-byte GCC vectors (8 floats / 4 doubles; two SSE registers without AVX): GCC will not
// vectorise floating-point reductions on its own without -ffast-math, which we avoid.
template <typename F>
struct Lanes {
  typedef F V __attribute__((vector_size(32)));
  static constexpr int64_t W = 32 / sizeof(F);
  static V load(const F* p) {
    V v;
    std::memcpy(&v, p, sizeof(v));
    return v;
  }
  static void store(F* p, V v) { std::memcpy(p, &v, sizeof(v)); }
  static F sum(V v) {
    F s = v[0];
    for (int64_t i = 1; i < W; ++i) s += v[i];
    return s;
  }
};

template <typename F>
F dot(const F* a, const F* b, int64_t n) {
  using L = Lanes<F>;
  typename L::V acc{};
  int64_t i = 0;
  for (; i + L::W <= n; i += L::W) acc += L::load(a + i) * L::load(b + i);
  F s = L::sum(acc);
  for (; i < n; ++i) s += a[i] * b[i];
  return s;
}

template <typename F>
F min_of(const F* x, int64_t n) {
  using L = Lanes<F>;
  int64_t i = 0;
  F m = std::numeric_limits<F>::infinity();
  if (n >= L::W) {
    typename L::V acc = L::load(x);
    for (i = L::W; i + L::W <= n; i += L::W) {
      const typename L::V v = L::load(x + i);
      acc = v < acc ? v : acc;
    }
    for (int64_t k = 0; k < L::W; ++k) m = acc[k] < m ? acc[k] : m;
  }
  for (; i < n; ++i) m = x[i] < m ? x[i] : m;
  return m;
}

typedef float f8 __attribute__((vector_size(32)));
typedef int32_t i8 __attribute__((vector_size(32)));
typedef uint32_t u8 __attribute__((vector_size(32)));

// e^x of 8 floats: x = k ln2 + r with k = round(x / ln2), |r| <= ln2 / 2; e^r by its Taylor
// polynomial to r^7 (relative error < 1e-8), times 2^k added to the exponent bits. Below -86 it
// returns 0 (e^-86 ~ 4e-38, near float's smallest normal; the 2^k trick needs k >= -125), above
// 88 inf; NaN stays NaN.
inline f8 exp8(f8 x) {
  const f8 lo = f8{} - 86.0f, hi = f8{} + 88.0f;
  f8 xc = x < lo ? lo : x;
  xc = xc > hi ? hi : xc;
  const f8 half = xc < 0.0f ? f8{} - 0.5f : f8{} + 0.5f;
  const i8 k = __builtin_convertvector(xc * 1.44269504f + half, i8);  // rounds half away from 0
  const f8 kf = __builtin_convertvector(k, f8);
  // ln 2 in two parts: kf * 0.693359375f is exact (k has <= 8 bits, the constant 9).
  const f8 r = (xc - kf * 0.693359375f) + kf * 2.12194440e-4f;
  f8 p = f8{} + 1.0f / 5040.0f;
  p = p * r + 1.0f / 720.0f;
  p = p * r + 1.0f / 120.0f;
  p = p * r + 1.0f / 24.0f;
  p = p * r + 1.0f / 6.0f;
  p = p * r + 0.5f;
  p = p * r + 1.0f;
  p = p * r + 1.0f;
  u8 bits;  // unsigned: the shift and add of a negative k wrap instead of being undefined
  std::memcpy(&bits, &p, sizeof(bits));
  bits += __builtin_convertvector(k, u8) << 23;
  f8 e;
  std::memcpy(&e, &bits, sizeof(e));
  e = x < lo ? f8{} : e;
  e = x > hi ? f8{} + std::numeric_limits<float>::infinity() : e;
  return x != x ? x : e;
}

// p[t] = exp((lowest - dist[t]) * inv_tau) for t < n; returns their sum.
inline float shifted_exp(const float* dist, float lowest, float inv_tau, int64_t n, float* p) {
  f8 acc{};
  int64_t t = 0;
  for (; t + 8 <= n; t += 8) {
    f8 d;
    std::memcpy(&d, dist + t, sizeof(d));
    const f8 e = exp8((lowest - d) * inv_tau);
    std::memcpy(p + t, &e, sizeof(e));
    acc += e;
  }
  float s = Lanes<float>::sum(acc);
  for (; t < n; ++t) s += (p[t] = std::exp((lowest - dist[t]) * inv_tau));
  return s;
}
inline double shifted_exp(const double* dist, double lowest, double inv_tau, int64_t n,
                          double* p) {
  double s = 0.0;
  for (int64_t t = 0; t < n; ++t) s += (p[t] = std::exp((lowest - dist[t]) * inv_tau));
  return s;
}

struct Dims {
  int64_t B, T, N, M, J, S;
};

template <typename F>
struct Params {
  const F *A, *Wt, *h, *floor, *D, *sigma, *mlp1, *mlp2;  // Wt (J, K, M): Wt[j, k, m] = W[j, m, k]
  F inv_tau_attention, inv_tau_gate;
};

template <typename F>
void rollout_kernel(const Dims& d, const Params<F>& p, const F* z0, const F* keys_t,
                    const F* values_t, const F* noise, F* out) {
  const int64_t T = d.T, N = d.N, M = d.M, J = d.J;
  at::parallel_for(0, d.B, 1, [&](int64_t begin, int64_t end) {
    // Everything a step touches, allocated once per task.
    std::vector<F> z(M), next(M), phi(M), dist(T), att(T), x(N + M), hidden(J), w(J), zobs(N);
    for (int64_t b = begin; b < end; ++b) {
      const F* kt = keys_t + b * N * T;  // (N, T)
      const F* vt = values_t + b * N * T;
      std::copy(z0 + b * M, z0 + (b + 1) * M, z.begin());
      for (int64_t s = 0; s < d.S; ++s) {
        // Gate: attention over the context from the noisy observed state.
        const F* eps = noise + (s * d.B + b) * N;
        for (int64_t n = 0; n < N; ++n) zobs[n] = dot(p.D + n * M, z.data(), M) + p.sigma[n] * eps[n];
        std::fill(dist.begin(), dist.end(), F(0));
        for (int64_t n = 0; n < N; ++n) {
          const F* k = kt + n * T;
          const F zn = zobs[n];
          for (int64_t t = 0; t < T; ++t) dist[t] += std::abs(k[t] - zn);  // vectorised by GCC
        }
        const F total = shifted_exp(dist.data(), min_of(dist.data(), T), p.inv_tau_attention, T,
                                    att.data());
        for (int64_t n = 0; n < N; ++n) x[n] = dot(att.data(), vt + n * T, T) / total;
        std::copy(z.begin(), z.end(), x.begin() + N);
        for (int64_t j = 0; j < J; ++j) {
          const F v = dot(p.mlp1 + j * (N + M), x.data(), N + M);
          hidden[j] = v > F(0) ? v : F(0);
        }
        F lowest = std::numeric_limits<F>::infinity();
        for (int64_t j = 0; j < J; ++j) {
          w[j] = dot(p.mlp2 + j * J, hidden.data(), J);
          lowest = w[j] < lowest ? w[j] : lowest;
        }
        F wsum = F(0);
        for (int64_t j = 0; j < J; ++j) wsum += (w[j] = std::exp((lowest - w[j]) * p.inv_tau_gate));
        for (int64_t j = 0; j < J; ++j) w[j] /= wsum;

        // Experts, mixed: the diagonal and bias terms, then W_j phi as axpys over M.
        for (int64_t m = 0; m < M; ++m) phi[m] = z[m] > p.floor[m] ? z[m] : p.floor[m];
        std::fill(next.begin(), next.end(), F(0));
        for (int64_t j = 0; j < J; ++j) {
          const F wj = w[j];
          const F* a = p.A + j * M;
          const F* hj = p.h + j * M;
          for (int64_t m = 0; m < M; ++m) next[m] += wj * (a[m] * z[m] + hj[m]);
          for (int64_t k = 0; k < M; ++k) {
            const F c = wj * phi[k];
            const F* col = p.Wt + (j * M + k) * M;
            for (int64_t m = 0; m < M; ++m) next[m] += c * col[m];
          }
        }
        z.swap(next);
        std::copy(z.begin(), z.begin() + N, out + (b * d.S + s) * N);
      }
    }
  });
}

void check(const at::Tensor& t, const char* name, at::IntArrayRef shape, const at::Tensor& like) {
  TORCH_CHECK(t.device().is_cpu(), "dynamix_rollout_cpu: ", name, " must be on the CPU");
  TORCH_CHECK(t.scalar_type() == like.scalar_type(), "dynamix_rollout_cpu: ", name, " is ",
              t.scalar_type(), ", z0 is ", like.scalar_type());
  TORCH_CHECK(t.is_contiguous(), "dynamix_rollout_cpu: ", name, " must be contiguous");
  TORCH_CHECK(t.sizes() == shape, "dynamix_rollout_cpu: ", name, " has shape ", t.sizes(),
              ", expected ", shape);
}

at::Tensor rollout(const at::Tensor& z0, const at::Tensor& keys, const at::Tensor& values,
                   const at::Tensor& noise, const at::Tensor& A, const at::Tensor& W,
                   const at::Tensor& h, const at::Tensor& floor, const at::Tensor& D,
                   const at::Tensor& sigma, double tau_attention, double tau_gate,
                   const at::Tensor& mlp1, const at::Tensor& mlp2) {
  TORCH_CHECK(z0.dim() == 2 && keys.dim() == 3 && A.dim() == 2 && noise.dim() == 3,
              "dynamix_rollout_cpu: z0 (B, M), keys (B, T, N), A (J, M), noise (S, B, N)");
  const Dims d{z0.size(0), keys.size(1), keys.size(2), z0.size(1), A.size(0), noise.size(0)};
  TORCH_CHECK(d.T >= 1, "dynamix_rollout_cpu: the context has no keys");
  TORCH_CHECK(d.N <= d.M, "dynamix_rollout_cpu: N > M");
  check(z0, "z0", {d.B, d.M}, z0);
  check(keys, "keys", {d.B, d.T, d.N}, z0);
  check(values, "values", {d.B, d.T, d.N}, z0);
  check(noise, "noise", {d.S, d.B, d.N}, z0);
  check(A, "A", {d.J, d.M}, z0);
  check(W, "W", {d.J, d.M, d.M}, z0);
  check(h, "h", {d.J, d.M}, z0);
  check(floor, "floor", {d.M}, z0);
  check(D, "D", {d.N, d.M}, z0);
  check(sigma, "sigma", {d.N}, z0);
  check(mlp1, "mlp1", {d.J, d.N + d.M}, z0);
  check(mlp2, "mlp2", {d.J, d.J}, z0);
  // Transposed once per call (not per step): contiguous T for the context, contiguous M for W.
  const at::Tensor keys_t = keys.transpose(1, 2).contiguous();
  const at::Tensor values_t = values.transpose(1, 2).contiguous();
  const at::Tensor Wt = W.transpose(1, 2).contiguous();
  at::Tensor out = at::empty({d.B, d.S, d.N}, z0.options());
  AT_DISPATCH_FLOATING_TYPES(z0.scalar_type(), "dynamix_rollout_cpu", [&] {
    const Params<scalar_t> p{
        A.data_ptr<scalar_t>(),     Wt.data_ptr<scalar_t>(),    h.data_ptr<scalar_t>(),
        floor.data_ptr<scalar_t>(), D.data_ptr<scalar_t>(),     sigma.data_ptr<scalar_t>(),
        mlp1.data_ptr<scalar_t>(),  mlp2.data_ptr<scalar_t>(),
        scalar_t(1) / static_cast<scalar_t>(std::abs(tau_attention)),
        scalar_t(1) / static_cast<scalar_t>(std::abs(tau_gate))};
    rollout_kernel<scalar_t>(d, p, z0.data_ptr<scalar_t>(), keys_t.data_ptr<scalar_t>(),
                             values_t.data_ptr<scalar_t>(), noise.data_ptr<scalar_t>(),
                             out.data_ptr<scalar_t>());
  });
  return out;
}

}  // namespace

PYBIND11_MODULE(TORCH_EXTENSION_NAME, m) {
  m.def("rollout", &rollout, "DynaMix free run: out (B, S, N) from z0, the context and noise");
}
