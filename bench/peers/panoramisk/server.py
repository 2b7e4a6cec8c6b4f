"""The panoramisk FastAGI server of callbackd's peers benchmark.

The same scenario as callbackd's: the environment, EXEC Ringing, EXEC
PJSIPHangup 603, close. It listens on 127.0.0.1 on a free port, prints
"READY 127.0.0.1:<port>", and exits when its standard input closes.
Runs on Debian's python3 with python3-panoramisk.
"""
import asyncio
import sys
import threading

from panoramisk.fast_agi import Application


async def ani(request):
    await request.send_command('EXEC Ringing')
    await request.send_command('EXEC PJSIPHangup 603')


async def main():
    loop = asyncio.get_running_loop()
    app = Application(loop=loop)
    app.add_route('ani', ani)
    server = await asyncio.start_server(app.handler, '127.0.0.1', 0)
    port = server.sockets[0].getsockname()[1]
    print('READY 127.0.0.1:%d' % port, flush=True)
    done = asyncio.Event()

    def watch_stdin():
        sys.stdin.read()
        loop.call_soon_threadsafe(done.set)

    threading.Thread(target=watch_stdin, daemon=True).start()
    await done.wait()
    server.close()


if __name__ == '__main__':
    asyncio.run(main())
