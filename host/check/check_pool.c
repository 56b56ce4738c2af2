/* Check cases for pool: not written yet. */
#include "check/harness.h"
const clnet_check_case clnet_check_cases_pool[] = {{0}};
