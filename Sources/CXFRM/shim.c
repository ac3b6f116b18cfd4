#include "CXFRM.h"
