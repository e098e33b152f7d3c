/**
 * Misbehaving TCP servers for the store's failure tests: one that accepts and
 * never answers (a hung memcached), one that drops the connection as soon as
 * a request arrives, one that answers everything with an error, one that
 * only records what arrives, packet by packet, and one that answers every
 * packet with STORED 10 ms late.
 */
import { createServer, type Server, type Socket } from 'node:net';

export type FakeBehaviour = 'hang' | 'drop' | 'error' | 'record' | 'slow';

export interface FakeServer {
  address: string;
  connections: number;
  /** What arrived, one string per data event (`record` only). */
  chunks: string[];
  close(): Promise<void>;
}

export async function startFakeServer(behaviour: FakeBehaviour): Promise<FakeServer> {
  const sockets = new Set<Socket>();
  const state = { connections: 0 };
  const chunks: string[] = [];
  const server: Server = createServer((socket) => {
    state.connections += 1;
    sockets.add(socket);
    socket.on('close', () => sockets.delete(socket));
    socket.on('error', () => undefined);
    socket.on('data', (chunk: Buffer) => {
      if (behaviour === 'record') chunks.push(chunk.toString('utf8'));
      if (behaviour === 'drop') socket.destroy();
      if (behaviour === 'error') socket.write('SERVER_ERROR out of memory storing object\r\n');
      if (behaviour === 'slow') setTimeout(() => socket.write('STORED\r\n'), 10);
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const port = (server.address() as { port: number }).port;
  return {
    address: `127.0.0.1:${port}`,
    get connections() {
      return state.connections;
    },
    chunks,
    close: () =>
      new Promise<void>((resolve) => {
        for (const socket of sockets) socket.destroy();
        server.close(() => resolve());
      }),
  };
}
