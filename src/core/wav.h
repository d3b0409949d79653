/* Reading a WAV file of 16-bit mono PCM (RIFF WAVE, format 1): the audio
 * a deployment gives as music on hold ([media] hold_music). Any thread;
 * never logs. The file is configuration, not outside input, but it is
 * still read through a bounds-checked cursor and a size limit. */
#pragma once

#include <stddef.h>
#include <stdint.h>

/* Files larger than this are refused (about 10 minutes at 16 kHz). */
#define SB_WAV_MAX_BYTES (20u * 1024 * 1024)

/* Reads path: its samples (malloc'd, host order) into *ret_pcm, their
 * count into *ret_n (at least one) and the sample rate into *ret_rate.
 * Returns 0, or a negative errno with what is wrong in err: -ENOENT or
 * another open/read error, -EFBIG (over SB_WAV_MAX_BYTES), -EBADMSG (not
 * a RIFF WAVE file), -ENOTSUP (not PCM 16-bit mono), -ENOMEM. ret_* are
 * untouched on failure. */
int sb_wav_read(const char *path, int16_t **ret_pcm, size_t *ret_n, int *ret_rate, char *err,
		size_t errlen);
