/* Tone analysis for tests: the strongest frequency of a block of samples
 * (Goertzel at each candidate frequency). Header only, so that any test
 * binary can include it. */
#pragma once

#include <math.h>
#include <stddef.h>
#include <stdint.h>

/* The strongest frequency (100..3000 Hz, 5 Hz steps) of n samples at rate. */
static inline int sbt_peak_hz(const int16_t *x, size_t n, int rate)
{
	double best = -1;
	int hz = 0;

	for (int f = 100; f <= 3000; f += 5) {
		double c = 2 * cos(2 * M_PI * f / rate), s1 = 0, s2 = 0, p;

		for (size_t i = 0; i < n; i++) {
			double s0 = x[i] + c * s1 - s2;
			s2 = s1;
			s1 = s0;
		}
		p = s1 * s1 + s2 * s2 - c * s1 * s2;
		if (p > best) {
			best = p;
			hz = f;
		}
	}
	return hz;
}
