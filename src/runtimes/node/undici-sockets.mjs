// fetch's HTTP client (undici, built into Node) keeps each connection open for reuse after a response, owned
// by its global dispatcher where no function code can reach it. criu cannot dump a TCP connection into a
// clone, so a function that called fetch at init failed to build. undici announces every connection it opens
// on the diagnostics channel `undici:client:connected` (its documented observer API, shared by the copy
// inside Node and any undici from npm): the shim keeps the sockets it sees and closes them before the
// snapshot. undici takes the close as the server ending an idle connection, drops the pool, and opens a fresh
// connection on the next request in each clone.
import diagnosticsChannel from 'node:diagnostics_channel';

const open = new Set();

/** Starts keeping undici's connections; call before the function's code loads. */
export function trackUndiciSockets() {
  diagnosticsChannel.subscribe('undici:client:connected', ({ socket }) => {
    open.add(socket);
    socket.once('close', () => open.delete(socket));
  });
}

/** Closes every connection undici holds and waits until each is closed. */
export async function closeUndiciSockets() {
  await Promise.all(
    [...open].map(
      (socket) =>
        new Promise((resolve) => {
          if (socket.closed) return resolve();
          socket.once('close', resolve);
          socket.destroy();
        }),
    ),
  );
}
