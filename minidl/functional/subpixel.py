"""conv_transpose2d with stride s as s_h * s_w stride-1 correlations (the sub-pixel, or phase,
decomposition): FCN's learned upsampling without col2im's scatter-add.

A transposed convolution (dilation 1) scatters each input pixel, times the kernel, onto the output
with stride s:

    out[n, co, y, z] = sum over c, i, j, ih, iw with y = ih s_h - p_h + i, z = iw s_w - p_w + j of
                       W[c, co, i, j] x[n, c, ih, iw].

Split the output rows by phase, y = s m + r with 0 <= r < s. Row y only receives the taps
i ≡ r + p (mod s), that is i = i_r + s t with

    i_r = (r + p) mod s,   t = 0 .. T - 1,   T = ceil(k / s),   read from input row ih = m + q_r - t,
    q_r = floor((r + p) / s)

(taps i >= k count as zero). Columns alike. So each of the s_h s_w phases (r, r') is a stride-1
correlation of x with a T_h x T_w sub-kernel:

    out[n, co, s_h m + r, s_w m' + r'] = sum_{c, t, t'} W[c, co, i_r + s_h t, j_r' + s_w t']
                                                      x[n, c, m + q_r - t, m' + q_r' - t'].

All phases read T x T windows of the same input, shifted by q_r: with window rows b + u_0 + e
(e = T - 1 - t, u_0 = min_r q_r - T + 1), phase r's row m is window b = m + q_r - min_r q_r. One
im2col of x with a T x T window and stride 1 therefore serves every phase, and their sub-kernels stack
into one weight matrix, so the forward is ONE GEMM followed by one interleaving copy per phase:

    P = W_p cols,   W_p[(r, r', co), (c, e, f)] = W[c, co, i_r + s_h (T_h - 1 - e), j_r' + s_w (T_w - 1 - f)]
    out[n, co, s_h m + r, s_w m' + r'] = P[(r, r', co), (n, m + q_r - min q, m' + q_r' - min q')]

W_p has (s_h s_w C_out) rows and (C_in T_h T_w) columns; for 4x4 stride 2 (T = 2) every one of the 16
taps appears once, so the GEMM multiplies as often as the col2im path's (plus one window row and column
that each phase skips: 29 x 29 windows for 28 x 28 inputs), and the columns are 4 (not 16) times the
input. Per group, as in conv2d. The backward is the adjoint, with D the output gradient cut into the
same phases (D = P's layout, zero where a phase has no output row):

    dW_p = D cols^T                (dW gathered back from W_p's layout)
    dx = col2im(W_p^T D)           (T_h T_w stride-1 taps: 4 adds per pixel for 4x4 stride 2, not 16)

``choose`` decides in one place whether a transposed convolution runs here or through the general
col2im path of ``conv.py`` (dilation > 1, stride 1, kernels that are not a multiple of the stride).
Arrays are NumPy or CuPy alike: im2col/col2im pick their backend, the rest is slicing and matmul.
"""
from .. import backend
from .im2col import Geometry, column_buffer, col2im, for_batch_chunks, im2col, scratch, sum_in_chunk_order
from .winograd import get_conv_algorithm


class _Axis:
    """One spatial axis of the decomposition: stride s, T taps per phase, and where each phase's rows
    sit among the windows (``start``, ``count``) and in the input (window rows ``lo`` .. ``hi - 1``)."""

    def __init__(self, k, s, p, size_in, size_out):
        self.s, self.p, self.size_in = s, p, size_in
        self.taps = -(-k // s)
        q = [(r + p) // s for r in range(s)]
        self.count = [len(range(r, size_out, s)) for r in range(s)]
        self.start = [q_r - min(q) for q_r in q]
        self.blocks = max(a + n for a, n in zip(self.start, self.count))
        self.lo = min(q) - self.taps + 1
        self.hi = self.lo + self.blocks + self.taps - 1

    def useful(self, k):
        """Whether the decomposition pays on this axis: the windows overlap the input, and the kernel
        splits evenly among the phases (k a multiple of s: no zero taps in W_p, see ``choose``)."""
        return self.lo < self.size_in and self.hi > 0 and k % self.s == 0

    def crop(self):
        """The input rows the windows read, and the zero rows to add before and after them."""
        first, last = max(self.lo, 0), min(self.hi, self.size_in)
        return slice(first, last), first - self.lo, self.hi - last

    def covers_input(self):
        return self.lo <= 0 and self.hi >= self.size_in

    def rows(self, r):
        """Phase r's rows among the windows (its output rows are y = r, r + s, ...)."""
        return slice(self.start[r], self.start[r] + self.count[r])


class Plan:
    """The decomposition of one transposed convolution (``geo`` is the conv2d geometry it is the
    adjoint of: ``geo.h x geo.w`` its output, ``geo.oh x geo.ow`` its input)."""

    def __init__(self, geo):
        self.rows = _Axis(geo.kh, geo.sh, geo.pt, geo.oh, geo.h)
        self.cols = _Axis(geo.kw, geo.sw, geo.pl, geo.ow, geo.w)
        (self.crop_h, top, bottom), (self.crop_w, left, right) = self.rows.crop(), self.cols.crop()
        self.kernel = geo.kh, geo.kw
        self.window = Geometry((self.rows.taps, self.cols.taps), (1, 1), (top, bottom, left, right), (1, 1),
                               (self.crop_h.stop - self.crop_h.start, self.crop_w.stop - self.crop_w.start),
                               (self.rows.blocks, self.cols.blocks))
        self.phases = geo.sh * geo.sw
        self.pixels = self.rows.blocks * self.cols.blocks

    def phase_pairs(self):
        return [(r, c) for r in range(self.rows.s) for c in range(self.cols.s)]

    def input_view(self, x):
        return x[:, :, self.crop_h, self.crop_w]

    def columns(self, x, groups):
        """im2col of x (a chunk of the batch) with the T x T window: (groups, C_g T_h T_w, n * blocks)."""
        return im2col(self.input_view(x), self.window).reshape(groups, -1, x.shape[0] * self.pixels)

    def weight(self, w, groups):
        """W_p (groups, s_h s_w C_out / groups, C_in / groups * T_h T_w) from W (C_in, C_out / groups, kh, kw).

        Kernel row i = s t + i0 (t < T, i0 < s) once W is zero-padded to s T rows: phase r takes
        i0 = (r + p) mod s (a roll by -p of the i0 axis) and window offset e = T - 1 - t (a flip)."""
        xp = backend.get_array_module(w)
        c_in, c_out_g = w.shape[:2]
        (sh, th), (sw, tw) = (self.rows.s, self.rows.taps), (self.cols.s, self.cols.taps)
        padded = xp.zeros((c_in, c_out_g, sh * th, sw * tw), dtype=w.dtype)
        padded[:, :, :self.kernel[0], :self.kernel[1]] = w
        taps = padded.reshape(c_in, c_out_g, th, sh, tw, sw)[:, :, ::-1, :, ::-1, :]
        taps = xp.roll(xp.roll(taps, -self.rows.p, axis=3), -self.cols.p, axis=5)
        # (c, co, e, r, f, r') -> (group, r, r', co, c in group, e, f)
        taps = taps.reshape(groups, c_in // groups, c_out_g, th, sh, tw, sw).transpose(0, 4, 6, 2, 1, 3, 5)
        return xp.ascontiguousarray(taps).reshape(groups, self.phases * c_out_g, -1)

    def weight_grad(self, dwp, w_shape):
        """The adjoint of ``weight``: dW (C_in, C_out / groups, kh, kw) from dW_p."""
        xp = backend.get_array_module(dwp)
        groups = dwp.shape[0]
        c_in, c_out_g = w_shape[:2]
        (sh, th), (sw, tw) = (self.rows.s, self.rows.taps), (self.cols.s, self.cols.taps)
        taps = dwp.reshape(groups, sh, sw, c_out_g, c_in // groups, th, tw).transpose(0, 4, 3, 5, 1, 6, 2)
        taps = taps.reshape(c_in, c_out_g, th, sh, tw, sw)
        taps = xp.roll(xp.roll(taps, self.rows.p, axis=3), self.cols.p, axis=5)[:, :, ::-1, :, ::-1, :]
        padded = taps.reshape(c_in, c_out_g, sh * th, sw * tw)
        return xp.ascontiguousarray(padded[:, :, :self.kernel[0], :self.kernel[1]])

    def interleave(self, product, out, groups, bias):
        """out (n, C_out, OH, OW)[..., r::s_h, r'::s_w] = phase (r, r') of ``product`` (groups,
        s_h s_w C_out / groups, n * blocks), plus ``bias`` (C_out,) when it is not None: in the same
        pass, which is the one that writes the output."""
        xp = backend.get_array_module(out)
        n, c_out = out.shape[:2]
        phased = product.reshape(groups, self.rows.s, self.cols.s, c_out // groups, n, self.rows.blocks,
                                 self.cols.blocks)
        target = out.reshape(n, groups, c_out // groups, out.shape[2], out.shape[3])
        for r, c in self.phase_pairs():
            source = phased[:, r, c, :, :, self.rows.rows(r), self.cols.rows(c)].transpose(2, 0, 1, 3, 4)
            if bias is None:
                target[:, :, :, r::self.rows.s, c::self.cols.s] = source
            else:
                xp.add(source, bias.reshape(groups, -1, 1, 1), out=target[:, :, :, r::self.rows.s, c::self.cols.s])

    def deinterleave(self, grad, groups):
        """The adjoint of ``interleave``: the output gradient (n, C_out, OH, OW) in the layout of the
        product, zero in the windows where a phase has no output row (in this thread's scratch)."""
        xp = backend.get_array_module(grad)
        n, c_out = grad.shape[:2]
        shape = (groups, self.rows.s, self.cols.s, c_out // groups, n, self.rows.blocks, self.cols.blocks)
        phased = scratch("phase gradient", shape, grad.dtype, xp)
        source = grad.reshape(n, groups, c_out // groups, grad.shape[2], grad.shape[3])
        # the windows outside each phase's rows (for all its column phases at once), then columns
        for r in range(self.rows.s):
            phased[:, r, ..., :self.rows.start[r], :] = 0
            phased[:, r, ..., self.rows.rows(r).stop:, :] = 0
        for c in range(self.cols.s):
            phased[:, :, c, ..., :self.cols.start[c]] = 0
            phased[:, :, c, ..., self.cols.rows(c).stop:] = 0
        for r, c in self.phase_pairs():
            phased[:, r, c, :, :, self.rows.rows(r), self.cols.rows(c)] = (
                source[:, :, :, r::self.rows.s, c::self.cols.s].transpose(1, 2, 0, 3, 4))
        return phased.reshape(groups, -1, n * self.pixels)

    def bytes_per_sample(self, c_in, c_out, dtype):
        """A sample's columns plus its phase product: what a chunk of the batch holds at once."""
        return (c_in * self.window.taps + self.phases * c_out) * self.pixels * dtype.itemsize


def choose(geo):
    """Whether ``conv_transpose2d`` with geometry ``geo`` runs by phases here (else by GEMM + col2im).

    Dilation 1, a stride above 1, and on both axes a kernel that is a multiple of the stride and
    windows that reach the input (``_Axis.useful``), unless ``set_conv_algorithm('im2col')`` forces the
    general path. Measured, forward + backward, float32, one thread, 2-core x86 (time by phases /
    time by col2im, 64 -> 64 channels at 28x28, batch 8, unless noted): 4x4/2 0.77, 2x2/2 0.86, 6x6/2
    0.70; 4x4/2 at 14x14 0.85, at 7x7 (batch 32) 0.89, 128 -> 64 at 14x14 (batch 16) 1.0; 8x8/4
    (32 channels at 16x16) 0.56; 16x16/8 (21 channels at 8x8, FCN-8s) 0.60. Kernels that are not a
    multiple of the stride pad W_p with zero taps: 3x3/2 1.26 (16 taps for 9), 5x5/2 0.94 (36 for
    25), 2x2/3 1.48, 1x1/2 2.0, so they keep col2im; so does stride 1 (3x3: 1.19, its im2col is as
    large as col2im's columns).
    """
    if get_conv_algorithm() == "im2col" or (geo.dh, geo.dw) != (1, 1) or (geo.sh, geo.sw) == (1, 1):
        return False
    plan = Plan(geo)
    return plan.rows.useful(geo.kh) and plan.cols.useful(geo.kw)


class Phases:
    """conv_transpose2d by phases for one geometry and weight: ``forward`` and ``backward``, which
    share W_p (built once)."""

    def __init__(self, geo, w, groups):
        self.plan, self.geo, self.groups, self.w_shape = Plan(geo), geo, groups, w.shape
        self.wp = self.plan.weight(w, groups)

    def forward(self, x, c_out, bias):
        """x (N, C_in, H, W) -> out (N, C_out, OH, OW), plus ``bias`` (C_out,) unless it is None."""
        xp = backend.get_array_module(x)
        plan, wp, groups = self.plan, self.wp, self.groups
        n, c_in = x.shape[:2]
        out = xp.empty((n, c_out, self.geo.h, self.geo.w), dtype=x.dtype)

        def work(a, b):
            cols = plan.columns(x[a:b], groups)
            product = scratch("phase product", (groups, wp.shape[1], cols.shape[2]), x.dtype, xp)
            xp.matmul(wp, cols, out=product)
            plan.interleave(product, out[a:b], groups, bias)

        for_batch_chunks(work, n, plan.bytes_per_sample(c_in, c_out, x.dtype), xp)
        return out

    def backward(self, x, grad, need_dx, need_dw, need_db):
        """(dx, dW, db) for the output gradient ``grad``; None for one not needed."""
        xp = backend.get_array_module(x)
        plan, wp, groups = self.plan, self.wp, self.groups
        n, c_in = x.shape[:2]
        dx = None
        if need_dx:
            covered = plan.rows.covers_input() and plan.cols.covers_input()
            dx = (xp.empty if covered else xp.zeros)(x.shape, dtype=x.dtype)

        def work(a, b):
            db_part = grad[a:b].sum(axis=(0, 2, 3)) if need_db else None
            if not (need_dx or need_dw):
                return None, db_part
            d = plan.deinterleave(grad[a:b], groups)
            dw_part = None
            if need_dw:
                dw_part = xp.matmul(d, plan.columns(x[a:b], groups).transpose(0, 2, 1))
            if need_dx:
                # the columns are used up: their buffer takes W_p^T D
                g = column_buffer((groups, wp.shape[2], d.shape[2]), x.dtype, xp)
                xp.matmul(wp.transpose(0, 2, 1), d, out=g)
                col2im(g.reshape(-1, d.shape[2]), plan.window, b - a, c_in, out=plan.input_view(dx[a:b]))
            return dw_part, db_part

        parts = for_batch_chunks(work, n, plan.bytes_per_sample(c_in, grad.shape[1], x.dtype), xp)
        dw = db = None
        if need_dw:
            dw = plan.weight_grad(sum_in_chunk_order([p[0] for p in parts], wp.shape, xp, x.dtype), self.w_shape)
        if need_db:
            db = sum_in_chunk_order([p[1] for p in parts], (grad.shape[1],), xp, x.dtype)
        return dx, dw, db
