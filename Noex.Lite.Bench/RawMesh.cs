using System.Buffers.Binary;
using System.Globalization;
using System.Net;
using System.Net.Sockets;
using System.Threading.Tasks.Sources;
using Noex.Lite.Bench.Remote;

namespace Noex.Lite.Bench;

/// <summary>
/// `mesh-calls --raw`: a node process of <see cref="MeshCalls"/> with no Noex.Lite node, only plain TCP sockets. It is the
/// floor of that verb: what the same topology and load cost on the machine (N processes, one connection per pair of them,
/// a thread blocked in a read on each, the kernel's wake-ups) before the library adds anything, so that the growth of CPU
/// per call from 2 to 16 nodes can be split into the part any such mesh pays and the part the library adds.
/// </summary>
/// <remarks>
/// <para>
/// It copies the library's threading model, not a faster one, so that the comparison is fair: one dedicated thread per
/// connection blocked in <see cref="Socket.Receive(Span{byte})"/> (the library's sockets never meet an asynchronous call);
/// the echo's replies sent from that read thread with <see cref="Socket.Send(ReadOnlySpan{byte})"/>; callers are async
/// methods on the thread pool that send their request under the connection's send lock and await a pooled
/// <see cref="IValueTaskSource{T}"/>, which the read thread completes inline after its read, as the library does with a
/// reply from another node (so a caller's next request is sent from that read thread too). As in the library
/// (ReadThreadScheduler), what a read thread sends (the echoes, and the requests of the callers it runs) is queued and
/// goes out at the end of the read, one send per connection it touched, and a read thread yields a while looking for
/// bytes before it blocks in a receive, one at a time in a process. Without those two (each request its own send, an
/// immediate blocking receive) the floor is not one: 2 nodes measured 7.6 µs CPU a call, 3.5x the library's 2.2.
/// </para>
/// <para>
/// The driver's protocol is <see cref="MeshCalls"/>'s, with "&lt;port&gt; 0" for "&lt;node id&gt; &lt;echo process id&gt;".
/// A frame is a 4-byte length and a body of <see cref="RawEcho.PayloadSize"/> bytes, about a Noex.Lite call request: a
/// kind (request or reply), the request's id and padding. Either end of a connection calls the other, as in the mesh.
/// </para>
/// </remarks>
internal static class RawMesh
{
    private const int FrameSize = 4 + RawEcho.PayloadSize;
    private const byte Request = 0;
    private const byte Reply = 1;

    /// <summary>As ReadThreadScheduler.SpinsBeforeBlocking and MaxSpinners: yields before a blocking receive, and how
    /// many read threads of a process may be yielding at once.</summary>
    private const int SpinsBeforeBlocking = 100;
    private static readonly int s_maxSpinners = Math.Max(1, Environment.ProcessorCount / 2);
    private static int s_spinners;

    /// <summary>On a read thread, the connections it queued sends on during this read; null on any other thread.</summary>
    [ThreadStatic]
    private static List<Connection>? t_touched;

    /// <summary>A node process (arguments as <see cref="MeshCalls.RunNodeAsync"/>'s, then --raw).</summary>
    public static async Task<int> RunNodeAsync(string[] args)
    {
        var index = int.Parse(args[0], CultureInfo.InvariantCulture);
        var callers = int.Parse(args[1], CultureInfo.InvariantCulture);
        using var listener = new Socket(AddressFamily.InterNetwork, SocketType.Stream, ProtocolType.Tcp);
        listener.Bind(new IPEndPoint(IPAddress.Loopback, 0));
        listener.Listen();
        Console.WriteLine($"{((IPEndPoint)listener.LocalEndPoint!).Port} 0");
        var peers = (await Console.In.ReadLineAsync())?.Split(' ')[1..] ?? [];
        var count = peers.Length / 2;
        // Like the mesh, one connection per pair: a node dials those listed before it and accepts the others. The dials
        // complete in the listeners' backlogs, so dialing everyone first and accepting after cannot deadlock.
        var connections = new List<Connection>();
        for (var i = 0; i < index; i++)
        {
            var socket = new Socket(AddressFamily.InterNetwork, SocketType.Stream, ProtocolType.Tcp) { NoDelay = true };
            socket.Connect(new IPEndPoint(IPAddress.Loopback, int.Parse(peers[2 * i], CultureInfo.InvariantCulture)));
            connections.Add(new Connection(socket));
        }
        for (var i = index + 1; i < count; i++)
        {
            var socket = listener.Accept();
            socket.NoDelay = true;
            connections.Add(new Connection(socket));
        }
        connections.ForEach(c => c.StartReading());
        Console.WriteLine("meshed");
        var waiters = Enumerable.Range(0, callers).Select(_ => new Waiter()).ToArray();
        // The commands are read on a thread of their own, as in MeshCalls: Console.In blocks.
        await Task.Factory.StartNew(() => MeshCalls.Serve(index, callers, connections.Count, (k, next) => connections[next].CallAsync(waiters[k])),
            TaskCreationOptions.LongRunning);
        return 0;
    }

    /// <summary>One caller's reusable wait for its reply: a call in flight at a time, so nothing is allocated per call.</summary>
    private sealed class Waiter : IValueTaskSource<bool>
    {
        private ManualResetValueTaskSourceCore<bool> _core = new() { RunContinuationsAsynchronously = false };

        /// <summary>This caller's request frame, its id rewritten for each call.</summary>
        public byte[] Frame { get; } = NewFrame();

        public ValueTask<bool> Arm()
        {
            _core.Reset();
            return new ValueTask<bool>(this, _core.Version);
        }

        /// <summary>Runs the caller's continuation on this thread (the read thread's), to save a thread handoff.</summary>
        public void Complete() => _core.SetResult(true);

        public bool GetResult(short token) => _core.GetResult(token);

        public ValueTaskSourceStatus GetStatus(short token) => _core.GetStatus(token);

        public void OnCompleted(Action<object?> continuation, object? state, short token, ValueTaskSourceOnCompletedFlags flags) =>
            _core.OnCompleted(continuation, state, token, flags);

        private static byte[] NewFrame()
        {
            var frame = new byte[FrameSize];
            BinaryPrimitives.WriteInt32LittleEndian(frame, RawEcho.PayloadSize);
            frame[4] = Request;
            return frame;
        }
    }

    /// <summary>A connection to one other node: its echo server (the read thread) and the calls in flight over it.</summary>
    private sealed class Connection(Socket socket)
    {
        private readonly Lock _send = new();
        private readonly Dictionary<long, Waiter> _pending = [];
        private long _nextId;
        private byte[] _queued = new byte[64 * 1024]; // under _send: what read threads deferred to the end of their read
        private int _queuedBytes;

        public void StartReading() =>
            new Thread(Read) { IsBackground = true, Name = "raw-mesh read" }.UnsafeStart();

        public ValueTask<bool> CallAsync(Waiter waiter)
        {
            // Armed and registered before the request leaves: the reply may be read before this method returns.
            var reply = waiter.Arm();
            var id = Interlocked.Increment(ref _nextId);
            lock (_pending)
            {
                _pending.Add(id, waiter);
            }
            BinaryPrimitives.WriteInt64LittleEndian(waiter.Frame.AsSpan(5), id);
            Send(waiter.Frame);
            return reply;
        }

        /// <summary>Sends now on a pool thread; queues on a read thread, which sends at the end of its read.</summary>
        private void Send(ReadOnlySpan<byte> bytes)
        {
            if (t_touched is { } touched)
            {
                lock (_send)
                {
                    if (_queuedBytes + bytes.Length > _queued.Length)
                    {
                        Array.Resize(ref _queued, Math.Max(_queued.Length * 2, _queuedBytes + bytes.Length));
                    }
                    bytes.CopyTo(_queued.AsSpan(_queuedBytes));
                    _queuedBytes += bytes.Length;
                }
                if (!touched.Contains(this))
                {
                    touched.Add(this);
                }
                return;
            }
            SendNow(bytes);
        }

        /// <summary>Sends what read threads queued on this connection, in one send.</summary>
        private void Flush()
        {
            lock (_send)
            {
                SendNow(_queued.AsSpan(0, _queuedBytes));
                _queuedBytes = 0;
            }
        }

        private void SendNow(ReadOnlySpan<byte> bytes)
        {
            // Several callers and the read thread's echo share the socket; a blocking send of a few frames goes out whole,
            // but the loop keeps a partial send from tearing a frame.
            lock (_send)
            {
                while (!bytes.IsEmpty)
                {
                    bytes = bytes[socket.Send(bytes)..];
                }
            }
        }

        private void Read()
        {
            var buffer = new byte[64 * 1024];
            var echo = new byte[buffer.Length];
            var replied = new List<Waiter>();
            var filled = 0;
            var touched = t_touched = [];
            try
            {
                while (true)
                {
                    if (Interlocked.Increment(ref s_spinners) <= s_maxSpinners)
                    {
                        for (var spin = 0; spin < SpinsBeforeBlocking && socket.Available == 0; spin++)
                        {
                            Thread.Yield();
                        }
                    }
                    Interlocked.Decrement(ref s_spinners);
                    var read = socket.Receive(buffer.AsSpan(filled));
                    if (read == 0)
                    {
                        return;
                    }
                    filled += read;
                    // Every complete frame of this read: requests are echoed back (queued, sent at the end of the read);
                    // replies complete their callers after the frames, as the library runs a remote reply's caller after
                    // the read.
                    var offset = 0;
                    var echoed = 0;
                    while (filled - offset >= 4)
                    {
                        var length = BinaryPrimitives.ReadInt32LittleEndian(buffer.AsSpan(offset));
                        if (filled - offset < 4 + length)
                        {
                            break;
                        }
                        var frame = buffer.AsSpan(offset, 4 + length);
                        if (frame[4] == Request)
                        {
                            frame.CopyTo(echo.AsSpan(echoed));
                            echo[echoed + 4] = Reply;
                            echoed += frame.Length;
                        }
                        else
                        {
                            var id = BinaryPrimitives.ReadInt64LittleEndian(frame[5..]);
                            lock (_pending)
                            {
                                _pending.Remove(id, out var waiter);
                                replied.Add(waiter!);
                            }
                        }
                        offset += frame.Length;
                    }
                    if (echoed > 0)
                    {
                        Send(echo.AsSpan(0, echoed));
                    }
                    buffer.AsSpan(offset, filled - offset).CopyTo(buffer);
                    filled -= offset;
                    foreach (var waiter in replied)
                    {
                        waiter.Complete();
                    }
                    replied.Clear();
                    // The echoes and the requests of the callers run above: one send per connection.
                    foreach (var connection in touched)
                    {
                        connection.Flush();
                    }
                    touched.Clear();
                }
            }
            catch (Exception e) when (e is SocketException or ObjectDisposedException)
            {
                // The peer went away: the process is ending.
            }
        }
    }
}
