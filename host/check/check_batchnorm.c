/* Check cases for batchnorm: not written yet. */
#include "check/harness.h"
const clnet_check_case clnet_check_cases_batchnorm[] = {{0}};
