// Networks are held by one tab at a time where the engine runs per tab (no SharedWorker): the
// Web Locks API gives a lock per network id that the browser frees when the tab goes.

/** lockNetwork on the Web Locks API (navigator.locks), held until released. */
export function webLocks(locks: LockManager): (id: string, name: string) => Promise<() => void> {
  return (id, name) =>
    new Promise((resolve, reject) => {
      void locks
        .request(`corridor-network-${id}`, { ifAvailable: true }, (lock) => {
          if (lock === null) {
            reject(
              new Error(
                `network ${name} is in use in another tab of this browser: close it there, or use that tab`,
              ),
            );
            return;
          }
          return new Promise<void>((release) => resolve(() => release()));
        })
        .catch(reject);
    });
}
