/* The fused CD workers for float64 (see _cd_fused.h and _cd_impl.h): a
 * translation unit of their own, so that the build compiles them in
 * parallel with the other element type's and the Cython module's. */
#define ST_CD_FLOAT 0
#include "_cd_impl.h"
