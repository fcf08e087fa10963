// OpenBLAS's CBLAS interface (Debian's libopenblas-dev, found through pkg-config).
#include <cblas.h>
