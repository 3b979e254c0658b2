/* chat.h — chat template rendering for an explicit style (the public
 * paw_chat_format picks the style from the model).  Not part of the API. */
#ifndef PAW_CHAT_H
#define PAW_CHAT_H

#include <stddef.h>
#include <stdint.h>
#include "paw.h"

/* Same for an explicit style; default_system (may be NULL) is the system
 * message a ChatML template inserts when the first message is not one. */
int paw_chat_render(int style, const char *default_system, const paw_chat_msg *msgs,
                    size_t n_msgs, int add_assistant, char **out, size_t *len);

/* The token that ends an assistant turn, from the model's own template:
 * render a user + assistant exchange and take the first token after the
 * assistant's text when it is an end-of-generation token (<|im_end|> for
 * ChatML), else the model's EOS.  The one rule both sides use: the
 * compiler trains outputs to end with it (paw_fit_end_token), the runtime's
 * closed-label decoding ends every label path with it. */
int32_t paw_chat_end_token(const paw_model *m, const paw_tokenizer *tok);

#endif
