// A small event emitter with the on/off/once shape web developers expect.
// Listener exceptions are caught and reported to `console.error` so one bad
// listener cannot break the SDK's state machine.

export class Emitter {
  constructor() {
    /** @type {Map<string, Set<Function>>} */
    this._listeners = new Map();
  }

  /**
   * Adds a listener. Returns `this` for chaining.
   * @param {string} event
   * @param {Function} fn
   */
  on(event, fn) {
    if (typeof fn !== 'function') throw new TypeError('listener must be a function');
    let set = this._listeners.get(event);
    if (!set) {
      set = new Set();
      this._listeners.set(event, set);
    }
    set.add(fn);
    return this;
  }

  /** Removes a listener added with `on` or `once`. */
  off(event, fn) {
    const set = this._listeners.get(event);
    if (set) {
      set.delete(fn);
      for (const f of set) if (f._sbOnce === fn) set.delete(f);
    }
    return this;
  }

  /** Adds a listener called at most once. */
  once(event, fn) {
    const wrapper = (...args) => {
      this.off(event, wrapper);
      fn.apply(this, args);
    };
    wrapper._sbOnce = fn;
    return this.on(event, wrapper);
  }

  /** Removes every listener, or every listener of one event. */
  removeAllListeners(event) {
    if (event === undefined) this._listeners.clear();
    else this._listeners.delete(event);
    return this;
  }

  /** @returns {number} listeners of `event` */
  listenerCount(event) {
    const set = this._listeners.get(event);
    return set ? set.size : 0;
  }

  /** @protected */
  _emit(event, ...args) {
    const set = this._listeners.get(event);
    if (!set || set.size === 0) return false;
    for (const fn of [...set]) {
      try {
        fn.apply(this, args);
      } catch (err) {
        // A listener's fault must not break the caller's state machine.
        console.error(`switchboard: listener for "${event}" threw`, err);
      }
    }
    return true;
  }
}
