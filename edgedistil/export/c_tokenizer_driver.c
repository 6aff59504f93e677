/* Test driver for a generated tokenizer.c: reads records "<max_len> <byte count>\n<bytes>" from
 * stdin and prints, for each, "<real count>:<ids, space-separated>:<mask, space-separated>". */
#include <stdio.h>
#include <stdlib.h>

#include "tokenizer.h"

#define MAX_TEXT (1 << 20)
#define MAX_LEN 4096

static char text[MAX_TEXT];
static int32_t ids[MAX_LEN], mask[MAX_LEN];

int main(void) {
    unsigned long max_len, count;
    while (scanf("%lu %lu", &max_len, &count) == 2) {
        size_t k, real;
        if (getchar() != '\n' || count > MAX_TEXT || max_len > MAX_LEN) return 2;
        if (fread(text, 1, count, stdin) != count) return 3;
        real = edt_tokenize(text, count, ids, mask, max_len);
        printf("%lu:", (unsigned long)real);
        for (k = 0; k < max_len; k++) printf(k ? " %ld" : "%ld", (long)ids[k]);
        printf(":");
        for (k = 0; k < max_len; k++) printf(k ? " %ld" : "%ld", (long)mask[k]);
        printf("\n");
    }
    return 0;
}
