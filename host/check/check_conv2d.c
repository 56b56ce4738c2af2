/* Check cases for conv2d: not written yet. */
#include "check/harness.h"
const clnet_check_case clnet_check_cases_conv2d[] = {{0}};
