/* Concatenation along channels, NHWC: one input j of C_j channels is the
 * channel slice [offset, offset + C_j) of y (rows, C_total), rows = N*H*W.
 *
 *   concat_forward:  y[r][offset + c] = x[r][c]
 *   concat_backward: dx[r][c] = dy[r][offset + c], or dx[r][c] += it when
 *       accumulate (another reader of x wrote its gradient first)
 * Index space (C, rows), rounded up to the work-group (bounds-checked);
 * work-items along the channels, so a row's slice is one contiguous run. */

__kernel void concat_forward(const int rows, const int C, const int C_total, const int offset,
                             __global const float *x, /* (rows, C) */
                             __global float *y)       /* (rows, C_total) */
{
  const int c = get_global_id(0), r = get_global_id(1);
  if (c >= C || r >= rows) return;
  y[(size_t)r * C_total + offset + c] = x[(size_t)r * C + c];
}

__kernel void concat_backward(const int rows, const int C, const int C_total, const int offset,
                              const int accumulate,
                              __global const float *dy, /* (rows, C_total) */
                              __global float *dx)       /* (rows, C) */
{
  const int c = get_global_id(0), r = get_global_id(1);
  if (c >= C || r >= rows) return;
  const float g = dy[(size_t)r * C_total + offset + c];
  const size_t i = (size_t)r * C + c;
  dx[i] = accumulate ? dx[i] + g : g;
}
