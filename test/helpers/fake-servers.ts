/**
 * Misbehaving TCP servers for the store's failure tests: one that accepts and
 * never answers (a hung memcached), one that drops the connection as soon as
 * a request arrives, one that answers everything with an error.
 */
import { createServer, type Server, type Socket } from 'node:net';

export type FakeBehaviour = 'hang' | 'drop' | 'error';

export interface FakeServer {
  address: string;
  connections: number;
  close(): Promise<void>;
}

export async function startFakeServer(behaviour: FakeBehaviour): Promise<FakeServer> {
  const sockets = new Set<Socket>();
  const state = { connections: 0 };
  const server: Server = createServer((socket) => {
    state.connections += 1;
    sockets.add(socket);
    socket.on('close', () => sockets.delete(socket));
    socket.on('error', () => undefined);
    socket.on('data', () => {
      if (behaviour === 'drop') socket.destroy();
      if (behaviour === 'error') socket.write('SERVER_ERROR out of memory storing object\r\n');
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const port = (server.address() as { port: number }).port;
  return {
    address: `127.0.0.1:${port}`,
    get connections() {
      return state.connections;
    },
    close: () =>
      new Promise<void>((resolve) => {
        for (const socket of sockets) socket.destroy();
        server.close(() => resolve());
      }),
  };
}
