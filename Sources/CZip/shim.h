#ifndef CZIP_SHIM_H
#define CZIP_SHIM_H
/* libzip: reading OOXML packages (DOCX, PPTX) into memory, entry by entry.
   Everything used imports into Swift as it is: no wrappers needed. */
#include <zip.h>
#endif
