// The project's one set of status propagation macros lives in decoder/ (the innermost
// library); this forwarding header keeps service code's includes local.
#ifndef PDSERVE_SERVICES_COMMON_STATUS_MACROS_H_
#define PDSERVE_SERVICES_COMMON_STATUS_MACROS_H_

#include "decoder/status_macros.h"

#endif  // PDSERVE_SERVICES_COMMON_STATUS_MACROS_H_
