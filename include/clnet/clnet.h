/* clnet: a portable OpenCL training engine. Umbrella header. */
#ifndef CLNET_CLNET_H
#define CLNET_CLNET_H
#include "clnet/status.h"
#include "clnet/runtime.h"
#include "clnet/ops.h"
#include "clnet/graph.h"
#include "clnet/data.h"
#include "clnet/io.h"
#include "clnet/train.h"
#include "clnet/dist.h"
#include "clnet/schedule.h"
#include "clnet/onnx.h"
#endif
