/* follow.h — following log files by name, as `tail -F` does, for `paw watch`.
 *
 * Polling, not inotify: one stat() per file per poll is cheap at the rates a
 * classifier can keep up with, works on every filesystem (NFS, overlay,
 * bind mounts) and sees every kind of rotation the same way.
 *
 * Per file, each poll: read what was appended since the last poll; then look
 * at the name again:
 *   - the name now points at another file (rotation by rename, or a new file
 *     created after a delete): the old file is read to its end (lines written
 *     just before the rename are not lost), its unfinished last line is
 *     delivered, and the new file is read from its start;
 *   - the name is gone: same, then the name is waited for; a file that
 *     appears later (or one missing at start) is read from its start;
 *   - the same file is now shorter than what was read (truncation, e.g.
 *     logrotate's copytruncate): reading starts again at offset 0 and the
 *     unfinished line is dropped.
 * Files present at start are read from their end unless from_start.
 *
 * Bounded memory: a line longer than max_line bytes keeps only its last
 * max_line bytes (cut at a UTF-8 character boundary; the end of a log line
 * is where the error is), so each file holds at most ~2 * max_line bytes of
 * an unfinished line whatever the writer does.  Delivered lines are valid
 * UTF-8 (an invalid byte becomes U+FFFD, NUL becomes a space) without the
 * trailing "\n" or "\r\n". */
#ifndef PAW_CLI_FOLLOW_H
#define PAW_CLI_FOLLOW_H
#include <stddef.h>

typedef struct cli_follow cli_follow;

/* A complete line of file `path`; `capped`: its head was dropped. */
typedef void (*cli_follow_line_fn)(void *ud, const char *path, const char *line, size_t len,
                                   int capped);
/* A change worth telling the user (rotation, truncation, a missing or
 * unreadable file), as one line of text without a newline. */
typedef void (*cli_follow_note_fn)(void *ud, const char *path, const char *what);

/* paths[0..n) are copied.  max_line >= 16.  Returns NULL when out of memory. */
cli_follow *cli_follow_new(const char *const *paths, size_t n, size_t max_line, int from_start,
                           cli_follow_line_fn on_line, cli_follow_note_fn on_note, void *ud);
/* Reads whatever is new in every file, delivering complete lines in file
 * order.  at_eof: also deliver each file's unfinished last line (the end of
 * a one-shot pass).  Returns the number of lines delivered. */
size_t cli_follow_poll(cli_follow *f, int at_eof);
void cli_follow_free(cli_follow *f);
#endif
