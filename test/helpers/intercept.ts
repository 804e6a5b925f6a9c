import type { Store } from '../../src/store/store.js';

/** `s` with the methods `names` going through `around`, which gets the method's name, a call of the original and its arguments. */
export function intercept(s: Store, names: string[], around: (name: string, call: () => unknown, args: unknown[]) => unknown): Store {
  return new Proxy(s, {
    get(target, prop, receiver) {
      const value = Reflect.get(target, prop, receiver) as unknown;
      if (typeof value !== 'function') return value;
      const method = (value as (...a: unknown[]) => unknown).bind(target);
      return typeof prop === 'string' && names.includes(prop) ? (...args: unknown[]) => around(prop, () => method(...args), args) : method;
    },
  });
}
