// Fused CPU selective scan (Mamba-1), forward and hand-written backward.
//
// One (batch row b, channel d) pair is a sequential scan over L with its N-state in a small
// buffer; the loops over N run on 32-byte vectors (`Vec`, `vexp`). Nothing of size
// (B, D, L, N) is ever formed: the forward writes y, the last state and the state at the start
// of every CHUNK steps; the backward walks chunks in reverse,
// recomputes a chunk's states and Ā from its start state into a (CHUNK + 1) x N buffer, then
// runs the adjoint λ_t = ∂ℓ/∂h_t backwards through it. Sums over channels (dB, dC) go into
// per-group partials (B, groups, L, N), a fixed grouping of channels that does not depend on
// the thread count, and sums over batch rows (dA, dD, dbias) into (B, D, ...) partials: torch
// adds them up afterwards. Deterministic, no atomics.
//
// Layouts (all contiguous): u, delta, z, y (B, D, L); A (D, N); Bt, Ct (B, L, N) (time-major,
// transposed by the Python wrapper so one step's N values are contiguous); D, bias (D,). N is
// padded to a multiple of 8 by the wrapper.
#include <torch/extension.h>

#include <algorithm>
#include <cmath>
#include <cstring>
#include <limits>
#include <optional>
#include <vector>

namespace {

// Loops over N run on GCC vector types of 32 bytes (8 floats or 4 doubles; SSE pairs without
// AVX): auto-vectorisation fails on the exp below, which GCC turns into branches. The wrapper
// pads N to a multiple of 8 with zeros (A = 0, B = C = 0: padded states stay 0).
template <typename T>
struct Vec {
  typedef T type __attribute__((vector_size(32)));
  static constexpr int64_t W = 32 / sizeof(T);
};
typedef int32_t v8i __attribute__((vector_size(32)));
typedef float v8f __attribute__((vector_size(32)));

template <typename T>
inline typename Vec<T>::type load(const T* p) {
  typename Vec<T>::type v;
  std::memcpy(&v, p, sizeof(v));
  return v;
}
template <typename T, typename V>
inline void store(T* p, V v) { std::memcpy(p, &v, sizeof(v)); }
template <typename V>
inline auto hsum(V v) {
  auto s = v[0];
  for (size_t i = 1; i < sizeof(V) / sizeof(s); ++i) s += v[i];
  return s;
}

// exp of 8 floats: round x / ln2 to k, a degree-7 Taylor polynomial on |r| <= ln2 / 2 (relative
// error < 1e-8, below float's 6e-8), times 2^k built from its bits. 0 below -87.3 (where float
// goes subnormal), inf above 88.
inline v8f vexp(v8f x) {
  const v8f lo = v8f{} - 87.3f, hi = v8f{} + 88.0f, magic = v8f{} + 12582912.0f;
  v8f xc = x < lo ? lo : x;
  xc = xc > hi ? hi : xc;
  const v8f kf = (xc * 1.44269504088896341f + magic) - magic;  // round to nearest
  v8f r = xc - kf * 0.693145751953125f;  // ln 2 split in two: the first product is exact
  r = r - kf * 1.428606765330187e-06f;
  v8f p = v8f{} + 1.0f / 5040.0f;
  p = p * r + 1.0f / 720.0f;
  p = p * r + 1.0f / 120.0f;
  p = p * r + 1.0f / 24.0f;
  p = p * r + 1.0f / 6.0f;
  p = p * r + 0.5f;
  p = p * r + 1.0f;
  p = p * r + 1.0f;
  const v8i bits = (__builtin_convertvector(kf, v8i) + 127) << 23;
  const v8f e = p * reinterpret_cast<const v8f&>(bits);
  const v8f zero = v8f{}, inf = v8f{} + std::numeric_limits<float>::infinity();
  return x > hi ? inf : (x < lo ? zero : e);
}
inline Vec<double>::type vexp(Vec<double>::type x) {  // fp64: exactness over speed
  for (int i = 0; i < 4; ++i) x[i] = std::exp(x[i]);
  return x;
}

// log(y) of 8 floats y >= 1: y = 2^e m with m in [√½, √2), log m = 2 atanh((m - 1) / (m + 1))
// by its series to s^9 (|s| <= 0.172: truncation < 1e-9).
inline v8f vlog(v8f y) {
  const v8i bits = reinterpret_cast<const v8i&>(y);
  const v8i mbits = (bits & 0x7fffff) | 0x3f800000;
  v8f m = reinterpret_cast<const v8f&>(mbits);
  const v8i big = m > 1.41421356f;
  m = big ? m * 0.5f : m;
  const v8f ex = __builtin_convertvector((bits >> 23) - 127 - big, v8f);  // big is -1 or 0
  const v8f sv = (m - 1.0f) / (m + 1.0f), s2 = sv * sv;
  const v8f series =
      2.0f * sv * (1.0f + s2 * (1.0f / 3 + s2 * (1.0f / 5 + s2 * (1.0f / 7 + s2 / 9))));
  return ex * 0.693145751953125f + (series + ex * 1.428606765330187e-06f);
}

// Per-step scalars of steps [0, len) of one chunk (len <= the buffers' length, a multiple of 8):
// Δ = softplus(raw) as torch computes it (threshold 20) or raw, dΔ/draw, and sigmoid(z).
inline void step_params(const float* delta, float bias, bool softplus, const float* z, int64_t len,
                        float* dt, float* dsp, float* sg) {
  const v8f one = v8f{} + 1.0f, twenty = v8f{} + 20.0f;
  for (int64_t i0 = 0; i0 < len; i0 += 8) {
    const int64_t m = std::min<int64_t>(8, len - i0);
    v8f raw{}, zv{};
    for (int64_t i = 0; i < m; ++i) raw[i] = delta[i0 + i] + bias;
    v8f d = raw, dd = one;
    if (softplus) {
      const v8f e = vexp(raw < twenty ? raw : twenty), y = 1.0f + e;
      const v8f log1p = vlog(y) + (e - (y - 1.0f)) / y;  // the quotient restores e's low bits
      d = raw <= twenty ? log1p : raw;  // so NaN stays NaN
      dd = raw <= twenty ? e / y : one;
    }
    store(dt + i0, d);
    store(dsp + i0, dd);
    if (z) {
      for (int64_t i = 0; i < m; ++i) zv[i] = z[i0 + i];
      store(sg + i0, 1.0f / (1.0f + vexp(-zv)));
    }
  }
}
inline void step_params(const double* delta, double bias, bool softplus, const double* z,
                        int64_t len, double* dt, double* dsp, double* sg) {
  for (int64_t i = 0; i < len; ++i) {
    const double raw = delta[i] + bias;
    const double e = std::exp(raw);
    const bool lin = !softplus || raw > 20.0;
    dt[i] = lin ? raw : std::log1p(e);
    dsp[i] = lin ? 1.0 : e / (1.0 + e);
    if (z) sg[i] = 1.0 / (1.0 + std::exp(-z[i]));
  }
}

struct Shape {
  int64_t B, D, L, N, chunk, n_chunks;
};

template <typename T>
const T* opt_ptr(const std::optional<at::Tensor>& t) {
  return t.has_value() ? t->data_ptr<T>() : nullptr;
}

template <typename T>
void forward_kernel(const Shape& s, const T* u, const T* delta, const T* A, const T* Bt,
                    const T* Ct, const T* Dv, const T* z, const T* bias, bool softplus, T* y,
                    T* last, T* chk) {
  using V = typename Vec<T>::type;
  constexpr int64_t W = Vec<T>::W;
  const int64_t N = s.N, L = s.L;
  at::parallel_for(0, s.B * s.D, 1, [&](int64_t begin, int64_t end) {
    const int64_t padded = (s.chunk + 7) / 8 * 8;
    std::vector<T> h(N), dts(padded), dsp(padded), sg(padded);
    for (int64_t bd = begin; bd < end; ++bd) {
      const int64_t b = bd / s.D, d = bd % s.D;
      const T* a = A + d * N;
      const T skip = Dv ? Dv[d] : T(0), bias_d = bias ? bias[d] : T(0);
      const int64_t row = bd * L;
      std::fill(h.begin(), h.end(), T(0));
      T* hp = h.data();
      for (int64_t c = 0; c < s.n_chunks; ++c) {
        const int64_t t0 = c * s.chunk, len = std::min(s.chunk, L - t0);
        std::copy(hp, hp + N, chk + (bd * s.n_chunks + c) * N);
        step_params(delta + row + t0, bias_d, softplus, z ? z + row + t0 : nullptr, len,
                    dts.data(), dsp.data(), sg.data());
        for (int64_t tt = 0; tt < len; ++tt) {
          const int64_t t = t0 + tt;
          const T dt = dts[tt], ut = u[row + t], dtu = dt * ut;
          const T* Bn = Bt + (b * L + t) * N;
          const T* Cn = Ct + (b * L + t) * N;
          V acc = V{};
          for (int64_t n = 0; n < N; n += W) {
            const V h_n = vexp(dt * load(a + n)) * load(hp + n) + dtu * load(Bn + n);
            store(hp + n, h_n);
            acc += h_n * load(Cn + n);
          }
          T out = hsum(acc) + skip * ut;
          if (z) out *= z[row + t] * sg[tt];
          y[row + t] = out;
        }
      }
      std::copy(hp, hp + N, last + bd * N);
    }
  });
}

template <typename T>
struct Grads {
  T *du, *ddelta, *dz, *dA, *dB, *dC, *dD, *dbias;  // dA (B, D, N); dB, dC (B, G, L, N)
};

template <typename T>
void backward_kernel(const Shape& s, int64_t group, const T* u, const T* delta, const T* A,
                     const T* Bt, const T* Ct, const T* Dv, const T* z, const T* bias,
                     bool softplus, const T* chk, const T* dy, const T* dlast, Grads<T> g) {
  using V = typename Vec<T>::type;
  constexpr int64_t W = Vec<T>::W;
  const int64_t N = s.N, L = s.L, CH = s.chunk;
  const int64_t n_groups = (s.D + group - 1) / group;
  at::parallel_for(0, s.B * n_groups, 1, [&](int64_t begin, int64_t end) {
    // states[tt] = h before step tt of the chunk (states[tt + 1] after it); decay[tt] = Ā_t.
    const int64_t padded = (CH + 7) / 8 * 8;
    std::vector<T> states((CH + 1) * N), decay(CH * N), dts(padded), dsp(padded), sgs(padded);
    std::vector<T> lam(N);
    for (int64_t task = begin; task < end; ++task) {
      const int64_t b = task / n_groups, grp = task % n_groups;
      T* dBp = g.dB + task * L * N;  // task = b * n_groups + grp: this group's partial
      T* dCp = g.dC + task * L * N;
      for (int64_t d = grp * group; d < std::min(s.D, (grp + 1) * group); ++d) {
        const int64_t bd = b * s.D + d, row = bd * L;
        const T* a = A + d * N;
        const T skip = Dv ? Dv[d] : T(0), bias_d = bias ? bias[d] : T(0);
        T* dAp = g.dA + bd * N;
        T* lp = lam.data();
        std::copy(dlast + bd * N, dlast + (bd + 1) * N, lp);
        std::fill(dAp, dAp + N, T(0));
        T dD_acc = T(0), dbias_acc = T(0);
        for (int64_t c = s.n_chunks - 1; c >= 0; --c) {
          const int64_t t0 = c * CH, len = std::min(CH, L - t0);
          std::copy(chk + (bd * s.n_chunks + c) * N, chk + (bd * s.n_chunks + c + 1) * N,
                    states.data());
          step_params(delta + row + t0, bias_d, softplus, z ? z + row + t0 : nullptr, len,
                      dts.data(), dsp.data(), sgs.data());
          for (int64_t tt = 0; tt < len; ++tt) {  // recompute the chunk's states and Ā
            const int64_t t = t0 + tt;
            const T dt = dts[tt], dtu = dt * u[row + t];
            const T* Bn = Bt + (b * L + t) * N;
            const T* hp = states.data() + tt * N;
            T* hn = states.data() + (tt + 1) * N;
            T* dA_t = decay.data() + tt * N;
            for (int64_t n = 0; n < N; n += W) {
              const V decay_n = vexp(dt * load(a + n));
              store(dA_t + n, decay_n);
              store(hn + n, decay_n * load(hp + n) + dtu * load(Bn + n));
            }
          }
          for (int64_t tt = len - 1; tt >= 0; --tt) {  // the adjoint, backwards in time
            const int64_t t = t0 + tt;
            const T dt = dts[tt], ut = u[row + t], dtu = dt * ut;
            const T* Bn = Bt + (b * L + t) * N;
            const T* Cn = Ct + (b * L + t) * N;
            const T* hp = states.data() + tt * N;
            const T* hn = states.data() + (tt + 1) * N;
            const T* dA_t = decay.data() + tt * N;
            T gy = dy[row + t];
            if (z) {  // y = (C·h + D u) silu(z): the gate's derivative needs the ungated y
              V acc = V{};
              for (int64_t n = 0; n < N; n += W) acc += load(hn + n) * load(Cn + n);
              const T pre = hsum(acc) + skip * ut;
              const T zt = z[row + t], sg = sgs[tt];
              g.dz[row + t] = gy * pre * sg * (T(1) + zt * (T(1) - sg));
              gy *= zt * sg;
            }
            dD_acc += gy * ut;
            T* dBn = dBp + t * N;
            T* dCn = dCp + t * N;
            V lam_B_v = V{}, gA_v = V{};
            for (int64_t n = 0; n < N; n += W) {
              store(dCn + n, load(dCn + n) + gy * load(hn + n));
              const V l = load(lp + n) + gy * load(Cn + n);  // λ_t
              store(dBn + n, load(dBn + n) + l * dtu);
              lam_B_v += l * load(Bn + n);
              const V decay_n = load(dA_t + n);
              const V gd = l * decay_n * load(hp + n);  // ∂ℓ/∂(Δ A) at (t, n)
              gA_v += gd * load(a + n);
              store(dAp + n, load(dAp + n) + gd * dt);
              store(lp + n, l * decay_n);  // λ carried to h_{t-1}
            }
            const T lam_B = hsum(lam_B_v), gA = hsum(gA_v);
            g.du[row + t] = gy * skip + dt * lam_B;
            const T ddt = (ut * lam_B + gA) * dsp[tt];
            g.ddelta[row + t] = ddt;
            dbias_acc += ddt;
          }
        }
        g.dD[bd] = dD_acc;
        g.dbias[bd] = dbias_acc;
      }
    }
  });
}

Shape shape_of(const at::Tensor& u, const at::Tensor& A, int64_t chunk) {
  const int64_t L = u.size(2);
  return {u.size(0), u.size(1), L, A.size(1), chunk, (L + chunk - 1) / chunk};
}

std::vector<at::Tensor> forward(const at::Tensor& u, const at::Tensor& delta, const at::Tensor& A,
                                const at::Tensor& Bt, const at::Tensor& Ct,
                                const std::optional<at::Tensor>& Dv,
                                const std::optional<at::Tensor>& z,
                                const std::optional<at::Tensor>& bias, bool softplus,
                                int64_t chunk) {
  const Shape s = shape_of(u, A, chunk);
  auto y = at::empty_like(u);
  auto last = at::empty({s.B, s.D, s.N}, u.options());
  auto chk = at::empty({s.B, s.D, s.n_chunks, s.N}, u.options());
  AT_DISPATCH_FLOATING_TYPES(u.scalar_type(), "selective_scan_cpu_fwd", [&] {
    forward_kernel<scalar_t>(s, u.data_ptr<scalar_t>(), delta.data_ptr<scalar_t>(),
                             A.data_ptr<scalar_t>(), Bt.data_ptr<scalar_t>(),
                             Ct.data_ptr<scalar_t>(), opt_ptr<scalar_t>(Dv),
                             opt_ptr<scalar_t>(z), opt_ptr<scalar_t>(bias), softplus,
                             y.data_ptr<scalar_t>(), last.data_ptr<scalar_t>(),
                             chk.data_ptr<scalar_t>());
  });
  return {y, last, chk};
}

// Returns du, ddelta, dz (empty without z), dA (B, D, N), dB, dC (B, groups, L, N),
// dD, dbias (B, D): the caller sums the partials.
std::vector<at::Tensor> backward(const at::Tensor& u, const at::Tensor& delta,
                                 const at::Tensor& A, const at::Tensor& Bt, const at::Tensor& Ct,
                                 const std::optional<at::Tensor>& Dv,
                                 const std::optional<at::Tensor>& z,
                                 const std::optional<at::Tensor>& bias, bool softplus,
                                 const at::Tensor& chk, const at::Tensor& dy,
                                 const at::Tensor& dlast, int64_t chunk, int64_t group) {
  const Shape s = shape_of(u, A, chunk);
  const int64_t n_groups = (s.D + group - 1) / group;
  auto du = at::empty_like(u), ddelta = at::empty_like(u);
  auto dz = z.has_value() ? at::empty_like(u) : at::empty({0}, u.options());
  auto dA = at::empty({s.B, s.D, s.N}, u.options());
  auto dB = at::zeros({s.B, n_groups, s.L, s.N}, u.options());
  auto dC = at::zeros({s.B, n_groups, s.L, s.N}, u.options());
  auto dD = at::empty({s.B, s.D}, u.options()), dbias = at::empty({s.B, s.D}, u.options());
  AT_DISPATCH_FLOATING_TYPES(u.scalar_type(), "selective_scan_cpu_bwd", [&] {
    Grads<scalar_t> g{du.data_ptr<scalar_t>(),    ddelta.data_ptr<scalar_t>(),
                      z.has_value() ? dz.data_ptr<scalar_t>() : nullptr,
                      dA.data_ptr<scalar_t>(),    dB.data_ptr<scalar_t>(),
                      dC.data_ptr<scalar_t>(),    dD.data_ptr<scalar_t>(),
                      dbias.data_ptr<scalar_t>()};
    backward_kernel<scalar_t>(s, group, u.data_ptr<scalar_t>(), delta.data_ptr<scalar_t>(),
                              A.data_ptr<scalar_t>(), Bt.data_ptr<scalar_t>(),
                              Ct.data_ptr<scalar_t>(), opt_ptr<scalar_t>(Dv),
                              opt_ptr<scalar_t>(z), opt_ptr<scalar_t>(bias), softplus,
                              chk.data_ptr<scalar_t>(), dy.data_ptr<scalar_t>(),
                              dlast.data_ptr<scalar_t>(), g);
  });
  return {du, ddelta, dz, dA, dB, dC, dD, dbias};
}

}  // namespace

PYBIND11_MODULE(TORCH_EXTENSION_NAME, m) {
  m.def("forward", &forward, "selective scan forward: y, last state, chunk-start states");
  m.def("backward", &backward, "selective scan backward: gradients and partial sums");
}
