/* Check cases for loss: not written yet. */
#include "check/harness.h"
const clnet_check_case clnet_check_cases_loss[] = {{0}};
