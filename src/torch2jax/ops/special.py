"""Special functions: gamma family, Bessel functions, orthogonal polynomials, float decomposition.

The orthogonal polynomials take their degree ``n`` as a tensor, so they run PyTorch's three-term
recurrences in a ``lax.while_loop`` up to the largest degree, keeping each element's value once its
own degree is reached; where PyTorch switches to a closed form (large degrees inside [-1, 1],
the endpoints) the same closed form is used, so results agree to round-off.
"""

from __future__ import annotations

import functools
import math
from collections.abc import Callable
from typing import Any

import jax
import jax.numpy as jnp
import jax.scipy.special as jss
import numpy as np
import torch

from torch2jax.ops._common import aten, cast, result_type, to_float
from torch2jax.registry import implements


def _float(x: Any) -> Any:
    return cast(x, to_float(x.dtype))


def _binary_float(x: Any, y: Any) -> tuple[Any, Any]:
    dtype = to_float(result_type(x, y))
    return cast(x, dtype), cast(y, dtype)


# --------------------------------------------------------------------------------------------------
# Gamma family


@jax.custom_jvp
def _trigamma(x: Any) -> Any:
    """PyTorch's trigamma: reflection below 1/2, six recurrence steps, then the asymptotic series.

    (JAX's ``polygamma(1, x)`` goes through the Hurwitz zeta function, which is wrong for
    x below about -8.)
    """
    reflect = x < 0.5
    sin_pi_x = jnp.sin(jnp.pi * x)
    result = jnp.where(reflect, -(jnp.pi * jnp.pi) / (sin_pi_x * sin_pi_x), 0.0).astype(x.dtype)
    x = jnp.where(reflect, 1 - x, x)
    for _ in range(6):
        result = result + 1 / (x * x)
        x = x + 1
    ixx = 1 / (x * x)
    result = result + (1 + 1 / (2 * x) + ixx * (1.0 / 6 - ixx * (1.0 / 30 - ixx * (1.0 / 42)))) / x
    return jnp.where(reflect, -result, result)


def _hurwitz_zeta(s: Any, q: Any) -> Any:
    """zeta(s, q) for real s and q, as PyTorch (Cephes) computes it.

    Cephes gives inf at s = 1 and at the poles q = 0, -1, -2, ..., and NaN for s < 1 and for
    negative q with a non-integer s. JAX's zeta is wrong for negative q; there the sum is shifted
    to positive q first: zeta(s, q) = sum_{k<m} (q + k)^-s + zeta(s, q + m).
    """
    s = jnp.asarray(s, q.dtype)
    integer_s = s == jnp.floor(s)
    shift = jnp.where((q < 1) & integer_s, jnp.ceil(1 - q), 0.0).astype(q.dtype)

    def body(state: tuple[Any, Any]) -> tuple[Any, Any]:
        k, total = state
        return k + 1, total + jnp.where(k < shift, (q + k) ** -s, 0.0)

    _, head = jax.lax.while_loop(
        lambda state: state[0] < jnp.max(shift, initial=0.0),
        body,
        (jnp.asarray(0.0, q.dtype), jnp.zeros_like(q)),
    )
    value = head + jss.zeta(s, q + shift)
    pole = (s == 1) | ((q <= 0) & (q == jnp.floor(q)))
    undefined = (s < 1) | ((q < 0) & ~integer_s)
    return jnp.where(pole & (s >= 1), jnp.inf, jnp.where(undefined, jnp.nan, value))


@implements(aten.special_zeta)
def zeta(s: Any, q: Any) -> Any:
    s, q = jnp.broadcast_arrays(*_binary_float(s, q))
    return _hurwitz_zeta(s, q)


def _polygamma(n: int, x: Any) -> Any:
    """PyTorch's polygamma for n >= 2: (-1)^(n+1) n! zeta(n + 1, x)."""
    factorial = float(np.prod(np.arange(1, n + 1)))
    return (1.0 if n % 2 else -1.0) * factorial * _hurwitz_zeta(n + 1, x)


@_trigamma.defjvp
def _trigamma_jvp(primals: tuple[Any], tangents: tuple[Any]) -> tuple[Any, Any]:
    (x,), (dx,) = primals, tangents
    return _trigamma(x), _polygamma(2, x) * dx


@functools.partial(jax.custom_jvp, nondiff_argnums=(0,))
def _polygamma_n(n: int, x: Any) -> Any:
    return _polygamma(n, x)


@_polygamma_n.defjvp
def _polygamma_n_jvp(n: int, primals: tuple[Any], tangents: tuple[Any]) -> tuple[Any, Any]:
    (x,), (dx,) = primals, tangents
    return _polygamma_n(n, x), _polygamma(n + 1, x) * dx


@jax.custom_jvp
def _digamma(x: Any) -> Any:
    # PyTorch: digamma(0) = -inf (JAX: NaN); NaN at the negative integers as in JAX.
    return jnp.where(x == 0, jnp.asarray(-jnp.inf, x.dtype), jss.digamma(x))


@_digamma.defjvp
def _digamma_jvp(primals: tuple[Any], tangents: tuple[Any]) -> tuple[Any, Any]:
    (x,), (dx,) = primals, tangents
    return _digamma(x), _trigamma(x) * dx


@implements(aten.digamma)
def digamma(x: Any) -> Any:
    return _digamma(_float(x))


@implements(aten.polygamma)
def polygamma(n: int, x: Any) -> Any:
    x = _float(x)
    if n == 0:
        return _digamma(x)
    if n == 1:
        return _trigamma(x)
    return _polygamma_n(n, x)


@implements(aten.igamma)
def igamma(a: Any, x: Any) -> Any:
    a, x = _binary_float(a, x)
    return jss.gammainc(a, x)


@implements(aten.igammac)
def igammac(a: Any, x: Any) -> Any:
    a, x = _binary_float(a, x)
    return jss.gammaincc(a, x)


# --------------------------------------------------------------------------------------------------
# Error function inverse


def _newton_refined_erfinv(y: Any) -> Any:
    """erfinv(y) from XLA's estimate and one Newton step.

    In the tails the residual comes from erfc, since 1 - |y| is exact there and erfc keeps the
    relative accuracy that erf has lost.
    """
    x = jss.erfinv(y)
    slope = (2 / math.sqrt(math.pi)) * jnp.exp(-x * x)
    residual = jnp.where(
        jnp.abs(y) > 0.5,
        jnp.sign(y) * ((1 - jnp.abs(y)) - jss.erfc(jnp.abs(x))),
        jss.erf(x) - y,
    )
    refined = x - residual / slope
    return jnp.where(jnp.isfinite(refined), refined, x)


@jax.custom_jvp
def _erfinv(y: Any) -> Any:
    """erfinv to within PyTorch's accuracy, which the derivative exp(erfinv(y)^2) magnifies.

    XLA's float32 erfinv is a few ulps off near |y| = 1 and its erfc up to ten, too far off to
    refine it to PyTorch's correctly rounded values in float32; where float64 is enabled the
    float32 result is the refined float64 one, rounded.
    """
    if y.dtype == jnp.float32 and jax.config.jax_enable_x64:
        return _newton_refined_erfinv(y.astype(jnp.float64)).astype(y.dtype)
    return _newton_refined_erfinv(y)


@_erfinv.defjvp
def _erfinv_jvp(primals: tuple[Any], tangents: tuple[Any]) -> tuple[Any, Any]:
    (y,), (dy,) = primals, tangents
    x = _erfinv(y)
    # PyTorch: 0.5 * sqrt(pi) * exp(erfinv(y)^2) * grad.
    return x, (0.5 * math.sqrt(math.pi)) * jnp.exp(x * x) * dy


@implements(aten.erfinv)
def erfinv(x: Any) -> Any:
    return _erfinv(_float(x))


# --------------------------------------------------------------------------------------------------
# Bessel functions


@implements(aten.special_modified_bessel_i0)
def modified_bessel_i0(x: Any) -> Any:
    return jss.i0(_float(x))


@implements(aten.special_modified_bessel_i1)
def modified_bessel_i1(x: Any) -> Any:
    return jss.i1(_float(x))


@implements(aten.special_spherical_bessel_j0)
def spherical_bessel_j0(x: Any) -> Any:
    x = _float(x)
    x2 = x * x
    series = 1.0 + x2 * (
        -1.0 / 6.0
        + x2
        * (1.0 / 120.0 + x2 * (-1.0 / 5040.0 + x2 * (1.0 / 362880.0 + x2 * (-1.0 / 39916800.0))))
    )
    safe = jnp.where(jnp.abs(x) < 0.5, 1.0, x)
    return jnp.where(
        jnp.isinf(x), jnp.zeros_like(x), jnp.where(jnp.abs(x) < 0.5, series, jnp.sin(safe) / safe)
    )


# --------------------------------------------------------------------------------------------------
# Bessel functions of the first and second kind, Airy function: Cephes approximations
#
# PyTorch evaluates these with Cephes' rational approximations (double-precision coefficients,
# used for float32 as well); the same approximations, evaluated in the same order, match it to
# round-off in both precisions. Each branch is computed on a harmless stand-in input where it is
# not selected, so that no NaN or inf from an unused branch reaches a gradient.


def _horner(coefficients: tuple[float, ...], t: Any) -> Any:
    """sum_i c_i t^(n-i), highest power first (Python floats keep t's dtype)."""
    value = jnp.zeros_like(t)
    for c in coefficients:
        value = value * t + c
    return value


def _chebyshev_series(coefficients: tuple[float, ...], t: Any) -> Any:
    """Cephes' chbevl: the Chebyshev series sum c_i T_i(t / 2), Clenshaw's recurrence."""
    b0, b1, b2 = jnp.full_like(t, coefficients[0]), jnp.zeros_like(t), jnp.zeros_like(t)
    for c in coefficients[1:]:
        b2, b1 = b1, b0
        b0 = t * b1 - b2 + c
    return 0.5 * (b0 - b2)


# Asymptotic expansions for x > 5 (Hankel's P and Q), shared by J and Y of the same order.
# fmt: off
_J0_PP = (
    7.96936729297347051624e-04, 8.28352392107440799803e-02, 1.23953371646414299388e00,
    5.44725003058768775090e00, 8.74716500199817011941e00, 5.30324038235394892183e00,
    9.99999999999999997821e-01,
)
_J0_PQ = (
    9.24408810558863637013e-04, 8.56288474354474431428e-02, 1.25352743901058953537e00,
    5.47097740330417105182e00, 8.76190883237069594232e00, 5.30605288235394617618e00,
    1.00000000000000000218e00,
)
_J0_QP = (
    -1.13663838898469149931e-02, -1.28252718670509318512e00, -1.95539544257735972385e01,
    -9.32060152123768231369e01, -1.77681167980488050595e02, -1.47077505154951170175e02,
    -5.14105326766599330220e01, -6.05014350600728481186e00,
)
_J0_QQ = (
    6.43178256118178023184e01, 8.56430025976980587198e02, 3.88240183605401609683e03,
    7.24046774195652478189e03, 5.93072701187316984827e03, 2.06209331660327847417e03,
    2.42005740240291393179e02,
)
_J1_PP = (
    7.62125616208173112003e-04, 7.31397056940917570436e-02, 1.12719608129684925192e00,
    5.11207951146807644818e00, 8.42404590141772420927e00, 5.21451598682361504063e00,
    1.00000000000000000254e00,
)
_J1_PQ = (
    5.71323128072548699714e-04, 6.88455908754495404082e-02, 1.10514232634061696926e00,
    5.07386386128601488557e00, 8.39985554327604159757e00, 5.20982848682361821619e00,
    9.99999999999999997461e-01,
)
_J1_QP = (
    5.10862594750176621635e-02, 4.98213872951233449420e00, 7.58238284132545283818e01,
    3.66779609360150777800e02, 7.10856304998926107277e02, 5.97489612400613639965e02,
    2.11688757100572135698e02, 2.52070205858023719784e01,
)
_J1_QQ = (
    7.42373277035675149943e01, 1.05644886038262816351e03, 4.98641058337653607651e03,
    9.56231892404756170795e03, 7.99704160447350683650e03, 2.82619278517639096600e03,
    3.36093607810698293419e02,
)

# Rational approximations on [0, 5].
_J0_RP = (
    -4.79443220978201773821e09, 1.95617491946556577543e12, -2.49248344360967716204e14,
    9.70862251047306323952e15,
)
_J0_RQ = (
    4.99563147152651017219e02, 1.73785401676374683123e05, 4.84409658339962045305e07,
    1.11855537045356834862e10, 2.11277520115489217587e12, 3.10518229857422583814e14,
    3.18121955943204943306e16, 1.71086294081043136091e18,
)
_J1_RP = (
    -8.99971225705559398224e08, 4.52228297998194034323e11, -7.27494245221818276015e13,
    3.68295732863852883286e15,
)
_J1_RQ = (
    6.20836478118054335476e02, 2.56987256757748830383e05, 8.35146791431949253037e07,
    2.21511595479792499675e10, 4.74914122079991414898e12, 7.84369607876235854894e14,
    8.95222336184627338078e16, 5.32278620332680085395e18,
)
_Y0_YP = (
    1.55924367855235737965e04, -1.46639295903971606143e07, 5.43526477051876500413e09,
    -9.82136065717911466409e11, 8.75906394395366999549e13, -3.46628303384729719441e15,
    4.42733268572569800351e16, -1.84950800436986690637e16,
)
_Y0_YQ = (
    1.04128353664259848412e03, 6.26107330137134956842e05, 2.68919633393814121987e08,
    8.64002487103935000337e10, 2.02979612750105546709e13, 3.17157752842975028269e15,
    2.50596256172653059228e17,
)
_Y1_YP = (
    1.26320474790178026440e09, -6.47355876379160291031e11, 1.14509511541823727583e14,
    -8.12770255501325109621e15, 2.02439475713594898196e17, -7.78877196265950026825e17,
)
_Y1_YQ = (
    5.94301592346128195359e02, 2.35564092943068577943e05, 7.34811944459721705660e07,
    1.87601316108706159478e10, 3.88231277496238566008e12, 6.20557727146953693363e14,
    6.87141087355300489866e16, 3.97270608116560655612e18,
)
# fmt: on

_SQRT_2_OVER_PI = 0.797884560802865355879892119868763737
_TWO_OVER_PI = 0.636619772367581343075535053490057448


def _hankel_asymptotic(
    x: Any, order: int, second_kind: bool, tables: tuple[tuple[float, ...], ...]
) -> Any:
    """J_n or Y_n (n = 0, 1) for x > 5: sqrt(2 / (pi x)) (P cos(x - phase) - 5/x Q sin(...))."""
    pp, pq, qp, qq = tables
    # PyTorch builds the argument as 25 / x^2 for order 0 and (5 / x)^2 for order 1.
    w = 25.0 / (x * x) if order == 0 else 5.0 / x * (5.0 / x)
    p = _horner(pp, w) / _horner(pq, w)
    q = 5.0 / x * (_horner(qp, w) / _horner(qq, w))
    phase = x - (
        0.785398163397448309615660845819875721
        if order == 0
        else 2.356194490192344928846982537459627163
    )
    if second_kind:
        value = p * jnp.sin(phase) + q * jnp.cos(phase)
    else:
        value = p * jnp.cos(phase) - q * jnp.sin(phase)
    return value * _SQRT_2_OVER_PI / jnp.sqrt(x)


def _bessel_j0(x: Any) -> Any:
    x = jnp.abs(x)
    small = x <= 5.0
    xs = jnp.where(small, x, 1.0)
    xl = jnp.where(small, 5.0, x)
    x2 = xs * xs
    rational = (
        (x2 - 5.78318596294678452118e00)
        * (x2 - 3.04712623436620863991e01)
        * _horner(_J0_RP, x2)
        / _horner(_J0_RQ, x2)
    )
    rational = jnp.where(xs < 1e-5, 1.0 - x2 / 4.0, rational)
    return jnp.where(
        small, rational, _hankel_asymptotic(xl, 0, False, (_J0_PP, _J0_PQ, _J0_QP, _J0_QQ))
    )


def _bessel_j1(x: Any) -> Any:
    sign = jnp.where(x < 0, -1.0, 1.0).astype(x.dtype)
    x = jnp.abs(x)
    small = x <= 5.0
    xs = jnp.where(small, x, 1.0)
    xl = jnp.where(small, 5.0, x)
    x2 = xs * xs
    rational = (
        _horner(_J1_RP, x2)
        / _horner(_J1_RQ, x2)
        * xs
        * (x2 - 1.46819706421238932572e01)
        * (x2 - 4.92184563216946036703e01)
    )
    large = _hankel_asymptotic(xl, 1, False, (_J1_PP, _J1_PQ, _J1_QP, _J1_QQ))
    return sign * jnp.where(small, rational, large)


def _bessel_y_small_domain(x: Any, value: Any) -> Any:
    """Y_n is -inf at 0 and NaN for negative x."""
    value = jnp.where(x == 0, -jnp.inf, value)
    return jnp.where(x < 0, jnp.nan, value)


def _bessel_y0(x: Any) -> Any:
    small = x <= 5.0
    xs = jnp.where(small & (x > 0), x, 1.0)
    xl = jnp.where(small, 5.0, x)
    x2 = xs * xs
    rational = _horner(_Y0_YP, x2) / _horner(_Y0_YQ, x2) + _TWO_OVER_PI * jnp.log(xs) * _bessel_j0(
        xs
    )
    large = _hankel_asymptotic(xl, 0, True, (_J0_PP, _J0_PQ, _J0_QP, _J0_QQ))
    return jnp.where(small, _bessel_y_small_domain(x, rational), large)


def _bessel_y1(x: Any) -> Any:
    small = x <= 5.0
    xs = jnp.where(small & (x > 0), x, 1.0)
    xl = jnp.where(small, 5.0, x)
    x2 = xs * xs
    rational = xs * (_horner(_Y1_YP, x2) / _horner(_Y1_YQ, x2)) + _TWO_OVER_PI * (
        _bessel_j1(xs) * jnp.log(xs) - 1.0 / xs
    )
    large = _hankel_asymptotic(xl, 1, True, (_J1_PP, _J1_PQ, _J1_QP, _J1_QQ))
    return jnp.where(small, _bessel_y_small_domain(x, rational), large)


# Modified Bessel functions of the second kind: Chebyshev series in x^2 - 2 on (0, 2], in
# 8 / x - 2 above.
# fmt: off
_K0_A = (
    1.37446543561352307156e-16, 4.25981614279661018399e-14, 1.03496952576338420167e-11,
    1.90451637722020886025e-09, 2.53479107902614945675e-07, 2.28621210311945178607e-05,
    1.26461541144692592338e-03, 3.59799365153615016266e-02, 3.44289899924628486886e-01,
    -5.35327393233902768720e-01,
)
_K0_B = (
    5.30043377268626276149e-18, -1.64758043015242134646e-17, 5.21039150503902756861e-17,
    -1.67823109680541210385e-16, 5.51205597852431940784e-16, -1.84859337734377901440e-15,
    6.34007647740507060557e-15, -2.22751332699166985548e-14, 8.03289077536357521100e-14,
    -2.98009692317273043925e-13, 1.14034058820847496303e-12, -4.51459788337394416547e-12,
    1.85594911495471785253e-11, -7.95748924447710747776e-11, 3.57739728140030116597e-10,
    -1.69753450938905987466e-09, 8.57403401741422608519e-09, -4.66048989768794782956e-08,
    2.76681363944501510342e-07, -1.83175552271911948767e-06, 1.39498137188764993662e-05,
    -1.28495495816278026384e-04, 1.56988388573005337491e-03, -3.14481013119645005427e-02,
    2.44030308206595545468e00,
)
_K1_A = (
    -7.02386347938628759343e-18, -2.42744985051936593393e-15, -6.66690169419932900609e-13,
    -1.41148839263352776110e-10, -2.21338763073472585583e-08, -2.43340614156596823496e-06,
    -1.73028895751305206302e-04, -6.97572385963986435018e-03, -1.22611180822657148235e-01,
    -3.53155960776544875667e-01, 1.52530022733894777053e00,
)
_K1_B = (
    -5.75674448366501715755e-18, 1.79405087314755922667e-17, -5.68946255844285935196e-17,
    1.83809354436663880070e-16, -6.05704724837331885336e-16, 2.03870316562433424052e-15,
    -7.01983709041831346144e-15, 2.47715442448130437068e-14, -8.97670518232499435011e-14,
    3.34841966607842919884e-13, -1.28917396095102890680e-12, 5.13963967348173025100e-12,
    -2.12996783842756842877e-11, 9.21831518760500529508e-11, -4.19035475934189648750e-10,
    2.01504975519703286596e-09, -1.03457624656780970260e-08, 5.74108412545004946722e-08,
    -3.50196060308781257119e-07, 2.40648494783721712015e-06, -1.93619797416608296024e-05,
    1.95215518471351631108e-04, -2.85781685962277938680e-03, 1.03923736576817238437e-01,
    2.72062619048444266945e00,
)
# fmt: on


def _modified_bessel_k(x: Any, order: int, scaled: bool) -> Any:
    """K_0 or K_1, times exp(x) when ``scaled``: +inf at 0, NaN for negative x."""
    small = x <= 2.0
    xs = jnp.where(small & (x > 0), x, 1.0)
    xl = jnp.where(small, 4.0, x)
    if order == 0:
        near = _chebyshev_series(_K0_A, xs * xs - 2.0) - jnp.log(0.5 * xs) * jss.i0(xs)
    else:
        near = jnp.log(0.5 * xs) * jss.i1(xs) + _chebyshev_series(_K1_A, xs * xs - 2.0) / xs
    far = _chebyshev_series(_K0_B if order == 0 else _K1_B, 8.0 / xl - 2.0) / jnp.sqrt(xl)
    if scaled:
        near = near * jnp.exp(xs)
    else:
        far = jnp.exp(-xl) * far
    value = jnp.where(small, near, far)
    value = jnp.where(x == 0, jnp.inf, value)
    return jnp.where(x < 0, jnp.nan, value)


# Airy Ai: an asymptotic expansion below -2.09 (oscillating) and above 2.09 (decaying), the
# Maclaurin series in between.
# fmt: off
_AI_AN = (
    3.46538101525629032477e-01, 1.20075952739645805542e01, 7.62796053615234516538e01,
    1.68089224934630576269e02, 1.59756391350164413639e02, 7.05360906840444183113e01,
    1.40264691163389668864e01, 9.99999999999999995305e-01,
)
_AI_AD = (
    5.67594532638770212846e-01, 1.47562562584847203173e01, 8.45138970141474626562e01,
    1.77318088145400459522e02, 1.64234692871529701831e02, 7.14778400825575695274e01,
    1.40959135607834029598e01, 1.00000000000000000470e00,
)
_AI_AFN = (
    -1.31696323418331795333e-01, -6.26456544431912369773e-01, -6.93158036036933542233e-01,
    -2.79779981545119124951e-01, -4.91900132609500318020e-02, -4.06265923594885404393e-03,
    -1.59276496239262096340e-04, -2.77649108155232920844e-06, -1.67787698489114633780e-08,
)
_AI_AFD = (
    1.33560420706553243746e01, 3.26825032795224613948e01, 2.67367040941499554804e01,
    9.18707402907259625840e00, 1.47529146771666414581e00, 1.15687173795188044134e-01,
    4.40291641615211203805e-03, 7.54720348287414296618e-05, 4.51850092970580378464e-07,
)
_AI_AGN = (
    1.97339932091685679179e-02, 3.91103029615688277255e-01, 1.06579897599595591108e00,
    9.39169229816650230044e-01, 3.51465656105547619242e-01, 6.33888919628925490927e-02,
    5.85804113048388458567e-03, 2.82851600836737019778e-04, 6.98793669997260967291e-06,
    8.11789239554389293311e-08, 3.41551784765923618484e-10,
)
_AI_AGD = (
    9.30892908077441974853e00, 1.98352928718312140417e01, 1.55646628932864612953e01,
    5.47686069422975497931e00, 9.54293611618961883998e-01, 8.64580826352392193095e-02,
    4.12656523824222607191e-03, 1.01259085116509135510e-04, 1.17166733214413521882e-06,
    4.91834570062930015649e-09,
)
# fmt: on
_INV_SQRT_PI = 5.64189583547756286948e-01
# Enough Maclaurin terms for |x| < 2.09 in float64: the terms shrink like |x|^(3k) / (3k)!.
_AIRY_SERIES_TERMS = 16


def _divide_exactly(x: Any, constant: float) -> Any:
    """x / constant, correctly rounded.

    XLA turns a division by a constant (or a broadcast scalar) into a multiplication by its
    rounded reciprocal, one ulp off at times; where the quotient feeds a sine of a large argument
    that ulp shows, so the divisor goes in as an opaque array.
    """
    return x / jax.lax.optimization_barrier(jnp.full_like(x, constant))


def _airy_negative(x: Any) -> Any:
    root = jnp.sqrt(-x)
    zeta = _divide_exactly(-2.0 * x * root, 3.0)
    z = 1.0 / zeta
    z2 = z * z
    f = 1.0 + z2 * _horner(_AI_AFN, z2) / _horner(_AI_AFD, z2)
    g = z * _horner(_AI_AGN, z2) / _horner(_AI_AGD, z2)
    t = zeta + 0.25 * jnp.pi
    return _INV_SQRT_PI / jnp.sqrt(root) * (jnp.sin(t) * f - jnp.cos(t) * g)


def _airy_positive(x: Any) -> Any:
    zeta = 2.0 * x * jnp.sqrt(x) / 3.0
    ratio = _horner(_AI_AN, 1.0 / zeta) / _horner(_AI_AD, 1.0 / zeta)
    return _INV_SQRT_PI * ratio / (2.0 * jnp.sqrt(jnp.sqrt(x)) * jnp.exp(zeta))


def _airy_series(x: Any) -> Any:
    """Ai(x) = c1 f(x) - c2 g(x), summed until a term of f falls below machine epsilon, element by
    element as PyTorch's loop does (a fixed number of masked steps, so it differentiates)."""
    eps = jnp.finfo(x.dtype).eps
    z = x * x * x
    f, g, m, n = jnp.ones_like(x), x, jnp.ones_like(x), x
    active = jnp.ones(x.shape, bool)
    for step in range(1, _AIRY_SERIES_TERMS + 1):
        k = 3.0 * step
        m_next = m * z / (k - 1.0) / k
        n_next = n * z / k / (k + 1.0)
        f_next, g_next = f + m_next, g + n_next
        f, g = jnp.where(active, f_next, f), jnp.where(active, g_next, g)
        m, n = jnp.where(active, m_next, m), jnp.where(active, n_next, n)
        active = active & (jnp.abs(m / f) > eps)
    return 0.355028053887817239260 * f - 0.258819403792806798405 * g


def _airy_ai(x: Any) -> Any:
    negative = x < -2.09
    positive = x >= 2.09
    middle = ~negative & ~positive
    value = jnp.where(
        negative,
        _airy_negative(jnp.where(negative & jnp.isfinite(x), x, -3.0)),
        jnp.where(positive, _airy_positive(jnp.where(positive, x, 3.0)), 0.0),
    )
    value = jnp.where(middle, _airy_series(jnp.where(middle, x, 0.0)), value)
    value = jnp.where(x > 103.892, 0.0, value)
    return jnp.where(jnp.isinf(x), jnp.nan, value).astype(x.dtype)


@implements(aten.special_bessel_j0, torch.ops.prims.bessel_j0)
def bessel_j0(x: Any) -> Any:
    return _bessel_j0(_float(x))


@implements(aten.special_bessel_j1, torch.ops.prims.bessel_j1)
def bessel_j1(x: Any) -> Any:
    return _bessel_j1(_float(x))


@implements(aten.special_bessel_y0)
def bessel_y0(x: Any) -> Any:
    return _bessel_y0(_float(x))


@implements(aten.special_bessel_y1)
def bessel_y1(x: Any) -> Any:
    return _bessel_y1(_float(x))


@implements(aten.special_modified_bessel_k0)
def modified_bessel_k0(x: Any) -> Any:
    return _modified_bessel_k(_float(x), 0, scaled=False)


@implements(aten.special_modified_bessel_k1)
def modified_bessel_k1(x: Any) -> Any:
    return _modified_bessel_k(_float(x), 1, scaled=False)


@implements(aten.special_scaled_modified_bessel_k0)
def scaled_modified_bessel_k0(x: Any) -> Any:
    return _modified_bessel_k(_float(x), 0, scaled=True)


@implements(aten.special_scaled_modified_bessel_k1)
def scaled_modified_bessel_k1(x: Any) -> Any:
    return _modified_bessel_k(_float(x), 1, scaled=True)


@implements(aten.special_airy_ai)
def airy_ai(x: Any) -> Any:
    return _airy_ai(_float(x))


# --------------------------------------------------------------------------------------------------
# Orthogonal polynomials


def _recurrence(
    x: Any, n: Any, first: Any, second: Any, step: Callable[[Any, Any, Any, Any], Any]
) -> Any:
    """P_n(x) from P_0 = first, P_1 = second and P_m = step(m, x, P_{m-1}, P_{m-2})."""
    n = jnp.broadcast_to(n, x.shape)
    first = jnp.broadcast_to(first, x.shape).astype(x.dtype)
    second = jnp.broadcast_to(second, x.shape).astype(x.dtype)
    top = jnp.max(n, initial=1)

    def body(state: tuple[Any, Any, Any]) -> tuple[Any, Any, Any]:
        m, previous, current = state
        new = step(m.astype(x.dtype), x, current, previous)
        active = m <= n
        return m + 1, jnp.where(active, current, previous), jnp.where(active, new, current)

    _, _, value = jax.lax.while_loop(
        lambda state: state[0] <= top, body, (jnp.asarray(2, n.dtype), first, second)
    )
    return jnp.where(n == 0, first, value)


def _degree(x: Any, n: Any) -> tuple[Any, Any]:
    """x as floating point and n truncated to an integer, as PyTorch's kernels take them, both
    broadcast to their common shape."""
    x, n = jnp.broadcast_arrays(*_binary_float(x, n))
    return x, jnp.trunc(n).astype(jnp.int32 if not jax.config.jax_enable_x64 else jnp.int64)


def _odd(n: Any) -> Any:
    return n % 2 == 1


def _chebyshev_t(x: Any, n: Any) -> Any:
    value = _recurrence(x, n, 1.0, x, lambda m, x, p1, p2: (x + x) * p1 - p2)
    large = (n > 6) & (jnp.abs(x) < 1)
    closed = jnp.cos(n.astype(x.dtype) * jnp.arccos(jnp.clip(x, -1, 1)))
    endpoint = jnp.where((x > 0) | ~_odd(n), 1.0, -1.0).astype(x.dtype)
    value = jnp.where(large, closed, value)
    value = jnp.where(jnp.abs(x) == 1, endpoint, value)
    return jnp.where(n < 0, jnp.zeros_like(x), value)


def _chebyshev_u(x: Any, n: Any) -> Any:
    value = _recurrence(x, n, 1.0, x + x, lambda m, x, p1, p2: (x + x) * p1 - p2)
    theta = jnp.arccos(jnp.clip(x, -1, 1))
    nf = n.astype(x.dtype)
    sin_theta = jnp.sin(theta)
    closed = jnp.where(
        sin_theta != 0,
        jnp.sin((nf + 1) * theta) / jnp.where(sin_theta != 0, sin_theta, 1),
        (nf + 1) * jnp.cos((nf + 1) * theta) / x,
    )
    endpoint = jnp.where((x > 0) | ~_odd(n), nf + 1, -(nf + 1))
    value = jnp.where((n > 8) & (jnp.abs(x) < 1), closed, value)
    value = jnp.where(jnp.abs(x) == 1, endpoint, value)
    return jnp.where(n < 0, jnp.zeros_like(x), value)


def _chebyshev_v(x: Any, n: Any) -> Any:
    value = _recurrence(x, n, 1.0, x + x - 1, lambda m, x, p1, p2: (x + x) * p1 - p2)
    theta = jnp.arccos(jnp.clip(x, -1, 1))
    nf = n.astype(x.dtype)
    odd_sign = jnp.where(_odd(n), -(nf + nf + 1), nf + nf + 1)
    half = jnp.sin(theta / 2)
    closed = jnp.where(half != 1, jnp.cos((nf + 0.5) * theta) / jnp.cos(theta / 2), odd_sign)
    endpoint = jnp.where(x > 0, jnp.ones_like(x), odd_sign)
    value = jnp.where((n > 8) & (jnp.abs(x) < 1), closed, value)
    value = jnp.where(jnp.abs(x) == 1, endpoint, value)
    return jnp.where(n < 0, jnp.zeros_like(x), value)


def _chebyshev_w(x: Any, n: Any) -> Any:
    value = _recurrence(x, n, 1.0, x + x + 1, lambda m, x, p1, p2: (x + x) * p1 - p2)
    theta = jnp.arccos(jnp.clip(x, -1, 1))
    nf = n.astype(x.dtype)
    sign = jnp.where(_odd(n), -1.0, 1.0).astype(x.dtype)
    half = jnp.cos(theta / 2)
    closed = jnp.where(
        half != 1,
        jnp.sin((nf + 0.5) * theta) / jnp.sin(theta / 2),
        jnp.where(x > 0, nf + nf + 1, sign),
    )
    endpoint = jnp.where(x > 0, nf + nf + 1, sign)
    value = jnp.where((n > 8) & (jnp.abs(x) < 1), closed, value)
    value = jnp.where(jnp.abs(x) == 1, endpoint, value)
    return jnp.where(n < 0, jnp.zeros_like(x), value)


@implements(aten.special_chebyshev_polynomial_t)
def chebyshev_polynomial_t(x: Any, n: Any) -> Any:
    return _chebyshev_t(*_degree(x, n))


@implements(aten.special_chebyshev_polynomial_u)
def chebyshev_polynomial_u(x: Any, n: Any) -> Any:
    return _chebyshev_u(*_degree(x, n))


@implements(aten.special_chebyshev_polynomial_v)
def chebyshev_polynomial_v(x: Any, n: Any) -> Any:
    return _chebyshev_v(*_degree(x, n))


@implements(aten.special_chebyshev_polynomial_w)
def chebyshev_polynomial_w(x: Any, n: Any) -> Any:
    return _chebyshev_w(*_degree(x, n))


# The shifted polynomials are the plain ones at 2x - 1 (PyTorch computes x + x - 1 too).
@implements(aten.special_shifted_chebyshev_polynomial_t)
def shifted_chebyshev_polynomial_t(x: Any, n: Any) -> Any:
    x, n = _degree(x, n)
    return _chebyshev_t(x + x - 1, n)


@implements(aten.special_shifted_chebyshev_polynomial_u)
def shifted_chebyshev_polynomial_u(x: Any, n: Any) -> Any:
    x, n = _degree(x, n)
    return _chebyshev_u(x + x - 1, n)


@implements(aten.special_shifted_chebyshev_polynomial_v)
def shifted_chebyshev_polynomial_v(x: Any, n: Any) -> Any:
    x, n = _degree(x, n)
    return _chebyshev_v(x + x - 1, n)


@implements(aten.special_shifted_chebyshev_polynomial_w)
def shifted_chebyshev_polynomial_w(x: Any, n: Any) -> Any:
    x, n = _degree(x, n)
    return _chebyshev_w(x + x - 1, n)


@implements(aten.special_hermite_polynomial_h)
def hermite_polynomial_h(x: Any, n: Any) -> Any:
    x, n = _degree(x, n)
    value = _recurrence(x, n, 1.0, x + x, lambda m, x, p1, p2: (x + x) * p1 - (m + m - 2) * p2)
    return jnp.where(n < 0, jnp.zeros_like(x), value)


@implements(aten.special_hermite_polynomial_he)
def hermite_polynomial_he(x: Any, n: Any) -> Any:
    x, n = _degree(x, n)
    value = _recurrence(x, n, 1.0, x, lambda m, x, p1, p2: x * p1 - (m - 1) * p2)
    return jnp.where(n < 0, jnp.zeros_like(x), value)


@implements(aten.special_laguerre_polynomial_l)
def laguerre_polynomial_l(x: Any, n: Any) -> Any:
    x, n = _degree(x, n)
    value = _recurrence(
        x,
        n,
        1.0,
        1 - x,
        lambda m, x, p1, p2: (((m - 1) + (m - 1) + (1 - x)) * p1 - (m - 1) * p2) / m,
    )
    value = jnp.where(x == 0, jnp.ones_like(x), value)
    return jnp.where(n < 0, jnp.zeros_like(x), value)


@implements(aten.special_legendre_polynomial_p)
def legendre_polynomial_p(x: Any, n: Any) -> Any:
    x, n = _degree(x, n)
    value = _recurrence(
        x, n, 1.0, x, lambda m, x, p1, p2: (((m - 1) + (m - 1) + 1) * x * p1 - (m - 1) * p2) / m
    )
    endpoint = jnp.where((x > 0) | (n == 0) | ~_odd(n), 1.0, -1.0).astype(x.dtype)
    value = jnp.where(jnp.abs(x) == 1, endpoint, value)
    return jnp.where(n < 0, jnp.zeros_like(x), value)


# --------------------------------------------------------------------------------------------------
# Floating-point decomposition, complex construction


@implements(aten.frexp)
def frexp(x: Any) -> Any:
    mantissa, exponent = jnp.frexp(x)
    return mantissa, exponent.astype(jnp.int32)


@implements(aten.angle)
def angle(x: Any) -> Any:
    if jnp.iscomplexobj(x):
        return jnp.angle(x)
    x = _float(x)
    # Real input: pi for negatives, 0 otherwise, NaN kept.
    return jnp.where(jnp.isnan(x), x, jnp.where(x < 0, jnp.pi, 0.0).astype(x.dtype))


@implements(aten.complex)
def complex_(real: Any, imag: Any) -> Any:
    real, imag = jnp.broadcast_arrays(real, imag)
    return jax.lax.complex(real, imag)


@implements(aten.polar)
def polar(magnitude: Any, phase: Any) -> Any:
    return complex_(magnitude * jnp.cos(phase), magnitude * jnp.sin(phase))
