// include/cauchy.h as C++: the extern "C" guards (the program would not link without them) and
// the status enum's fixed 32-bit type, then every check of header_check.c.
#include <type_traits>

#include "cauchy.h"

static_assert(std::is_same<std::underlying_type<CauchyStatus>::type, int32_t>::value,
              "CauchyStatus is an enum of underlying type int32_t");

#include "header_check.c"
