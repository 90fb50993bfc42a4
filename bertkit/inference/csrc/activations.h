/* The activations fused_layer.c applies as it writes a product's result, on 16 lanes, and the
 * elementwise functions they need (e^x, erf). The codes are fused_layer.py's, which derives
 * them from `bertkit.modeling.activations`' forms.
 */
#ifndef BERTKIT_ACTIVATIONS_H
#define BERTKIT_ACTIVATIONS_H

#include "simd16.h"

enum { ACT_NONE = 0, ACT_GELU_ERF = 1, ACT_GELU_TANH = 2, ACT_RELU = 3 };

static inline vf exp16(vf x) {  /* e^x, relative error ~1e-7 */
    x = vf_max(vf_min(x, vf_set1(88.3f)), vf_set1(-87.3f));
    vf n = vf_round(vf_mul(x, vf_set1(1.44269504f)));
    vf r = vf_fnmadd(n, vf_set1(0.693145752f), x);  /* ln 2 in two parts */
    r = vf_fnmadd(n, vf_set1(1.42860677e-6f), r);
    vf p = vf_set1(1.0f / 5040);  /* Taylor to r^7 on |r| <= ln2 / 2 */
    p = vf_fmadd(p, r, vf_set1(1.0f / 720));
    p = vf_fmadd(p, r, vf_set1(1.0f / 120));
    p = vf_fmadd(p, r, vf_set1(1.0f / 24));
    p = vf_fmadd(p, r, vf_set1(1.0f / 6));
    p = vf_fmadd(p, r, vf_set1(0.5f));
    p = vf_fmadd(p, r, vf_set1(1.0f));
    p = vf_fmadd(p, r, vf_set1(1.0f));
    return vf_scale2(p, n);
}

static inline vf erf16(vf x) {  /* Abramowitz & Stegun 7.1.26: |error| <= 1.5e-7 */
    vf a = vf_abs(x);
    vf t = vf_div(vf_set1(1.0f), vf_fmadd(a, vf_set1(0.3275911f), vf_set1(1.0f)));
    vf p = vf_set1(1.061405429f);
    p = vf_fmadd(p, t, vf_set1(-1.453152027f));
    p = vf_fmadd(p, t, vf_set1(1.421413741f));
    p = vf_fmadd(p, t, vf_set1(-0.284496736f));
    p = vf_fmadd(p, t, vf_set1(0.254829592f));
    p = vf_mul(p, t);
    vf y = vf_fnmadd(p, exp16(vf_mul(vf_mul(a, a), vf_set1(-1.0f))), vf_set1(1.0f));
    return vf_with_sign_of(y, x);  /* erf is odd: put x's sign back */
}

static inline vf activate(vf v, int activation) {
    if (activation == ACT_GELU_ERF) {  /* x/2 (1 + erf(x / sqrt 2)) */
        vf e = erf16(vf_mul(v, vf_set1(0.70710678f)));
        return vf_mul(vf_mul(v, vf_set1(0.5f)), vf_add(e, vf_set1(1.0f)));
    }
    if (activation == ACT_GELU_TANH) {  /* x/2 (1 + tanh(u)), tanh(u) = 1 - 2 / (e^2u + 1) */
        vf u = vf_mul(vf_set1(0.7978845608f), vf_fmadd(vf_mul(vf_mul(v, v), v), vf_set1(0.044715f), v));
        vf e = exp16(vf_mul(u, vf_set1(2.0f)));
        vf th = vf_sub(vf_set1(1.0f), vf_div(vf_set1(2.0f), vf_add(e, vf_set1(1.0f))));
        return vf_mul(vf_mul(v, vf_set1(0.5f)), vf_add(th, vf_set1(1.0f)));
    }
    if (activation == ACT_RELU) return vf_max(v, vf_zero());
    return v;
}

#endif
