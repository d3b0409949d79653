// Test-page audio helpers (served with the SDK's test page, used by the
// Playwright tests in tests/e2e): a pure tone as a microphone, and the
// strongest frequency of what comes back. Not part of the SDK.
(function () {
  const FFT = 4096;

  /* A tone of hz as a MediaStream: {ac, stream, stop()}; gain 1 is full
   * scale. */
  function source(hz, ac = new AudioContext(), gain = 1) {
    const osc = ac.createOscillator();
    osc.frequency.value = hz;
    const amp = ac.createGain();
    amp.gain.value = gain;
    const dest = ac.createMediaStreamDestination();
    osc.connect(amp);
    amp.connect(dest);
    osc.start();
    return { ac, stream: dest.stream, stop: () => osc.stop() };
  }

  /* An analyser on a remote stream. Chromium feeds a remote WebRTC stream to
   * WebAudio only while a media element plays it too. */
  async function listen(ac, stream) {
    const el = new Audio();
    el.muted = true;
    el.srcObject = stream;
    await el.play().catch(() => {});
    await ac.resume();
    const an = ac.createAnalyser();
    an.fftSize = FFT;
    ac.createMediaStreamSource(stream).connect(an);
    return { ac, an, el, bins: new Float32Array(an.frequencyBinCount) };
  }

  /* The strongest frequency right now: {hz, db}. */
  function peak(l) {
    l.an.getFloatFrequencyData(l.bins);
    let best = 0;
    for (let i = 1; i < l.bins.length; i++) if (l.bins[i] > l.bins[best]) best = i;
    return { hz: (best * l.ac.sampleRate) / FFT, db: l.bins[best] };
  }

  /* The level of hz right now, in dB: the strongest of the bins within
   * 20 Hz of it (a tone's energy spreads over a bin or two). */
  function level(l, hz) {
    l.an.getFloatFrequencyData(l.bins);
    const width = l.ac.sampleRate / FFT;
    let db = -Infinity;
    for (let i = Math.max(1, Math.floor((hz - 20) / width)); i <= Math.ceil((hz + 20) / width); i++) {
      if (i < l.bins.length && l.bins[i] > db) db = l.bins[i];
    }
    return db;
  }

  /* Polls every 250 ms until hz is the strongest frequency (within 30 Hz,
   * louder than -60 dB) after at least minMs, or until ms passed. Resolves
   * {heard, peakHz, peakDb} with the last reading. */
  async function waitFor(l, hz, { ms = 15000, minMs = 2000 } = {}) {
    const start = Date.now();
    let p = { hz: 0, db: -Infinity };
    while (Date.now() - start < ms) {
      await new Promise((r) => setTimeout(r, 250));
      p = peak(l);
      if (p.db > -60 && Math.abs(p.hz - hz) < 30 && Date.now() - start >= minMs) {
        return { heard: true, peakHz: p.hz, peakDb: p.db };
      }
    }
    return { heard: false, peakHz: p.hz, peakDb: p.db };
  }

  window.sbTone = { source, listen, peak, level, waitFor };
})();
