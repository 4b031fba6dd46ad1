using System.Collections.Concurrent;
using System.Diagnostics;
using System.Net.WebSockets;
using System.Text;
using System.Text.Json;
using System.Text.Json.Nodes;

namespace Noex.Lite.Tests;

/// <summary>
/// A headless Chromium driven over the Chrome DevTools Protocol with nothing but a <see cref="ClientWebSocket"/> and
/// System.Text.Json: one page, navigated, read with <c>Runtime.evaluate</c> and photographed. The browser runs with a
/// profile of its own in a temporary directory; disposing closes it (or kills its process tree) and deletes the profile.
/// </summary>
/// <remarks>
/// The browser is started with <c>--remote-debugging-port=0</c> and says on stderr where its DevTools endpoint is
/// (<c>DevTools listening on ws://...</c>). The client opens a page with <c>Target.createTarget</c> and attaches to it
/// with a flattened session, so that one socket carries the browser's and the page's commands (each page command names
/// the session).
/// </remarks>
internal sealed class HeadlessBrowser : IAsyncDisposable
{
    private const string Listening = "DevTools listening on ";

    private readonly Process _process;
    private readonly string _profile;
    private readonly ClientWebSocket _socket = new();
    private readonly ConcurrentDictionary<long, TaskCompletionSource<JsonElement>> _pending = new();
    private readonly SemaphoreSlim _sendLock = new(1, 1);
    private readonly ConcurrentQueue<string> _stderr = new();
    private readonly TaskCompletionSource<string> _endpoint = new(TaskCreationOptions.RunContinuationsAsynchronously);
    private Task _receiving = Task.CompletedTask;
    private long _nextId;
    private string _session = "";

    private HeadlessBrowser(Process process, string profile)
    {
        _process = process;
        _profile = profile;
        process.ErrorDataReceived += (_, e) =>
        {
            if (e.Data is { } line)
            {
                _stderr.Enqueue(line);
                var at = line.IndexOf(Listening, StringComparison.Ordinal);
                if (at >= 0)
                {
                    _endpoint.TrySetResult(line[(at + Listening.Length)..].Trim());
                }
            }
        };
        process.OutputDataReceived += (_, _) => { };
        process.BeginErrorReadLine();
        process.BeginOutputReadLine();
    }

    /// <summary>What the browser printed on stderr (for a failure message).</summary>
    public string Log => string.Join('\n', _stderr.TakeLast(40));

    /// <summary>Starts Chromium headless with a blank page of <paramref name="width"/> × <paramref name="height"/> CSS pixels.</summary>
    public static async Task<HeadlessBrowser> StartAsync(string executable, int width = 1360, int height = 900)
    {
        var profile = Directory.CreateTempSubdirectory("noex-chromium-").FullName;
        var start = new ProcessStartInfo(executable) { RedirectStandardError = true, RedirectStandardOutput = true, UseShellExecute = false };
        foreach (var arg in new[]
        {
            "--headless=new", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage", "--no-first-run",
            "--no-default-browser-check", "--disable-extensions", "--disable-background-networking", "--hide-scrollbars",
            "--mute-audio", $"--window-size={width},{height}", "--remote-debugging-port=0", $"--user-data-dir={profile}", "about:blank",
        })
        {
            start.ArgumentList.Add(arg);
        }
        var browser = new HeadlessBrowser(Process.Start(start)!, profile);
        try
        {
            var exited = browser._process.WaitForExitAsync();
            var endpoint = await Task.WhenAny(browser._endpoint.Task, exited).Within();
            if (endpoint != browser._endpoint.Task)
            {
                throw new InvalidOperationException($"Chromium exited ({browser._process.ExitCode}) before its DevTools endpoint was up:\n{browser.Log}");
            }
            await browser._socket.ConnectAsync(new Uri(await browser._endpoint.Task), CancellationToken.None).Within();
            browser._receiving = Task.Run(browser.ReceiveAsync);
            var target = await browser.SendAsync("Target.createTarget", new JsonObject { ["url"] = "about:blank" }, page: false);
            var attached = await browser.SendAsync("Target.attachToTarget", new JsonObject { ["targetId"] = target.GetProperty("targetId").GetString(), ["flatten"] = true }, page: false);
            browser._session = attached.GetProperty("sessionId").GetString()!;
            await browser.SendAsync("Page.enable");
            await browser.SendAsync("Emulation.setDeviceMetricsOverride", new JsonObject
            {
                ["width"] = width,
                ["height"] = height,
                ["deviceScaleFactor"] = 1,
                ["mobile"] = false,
            });
            return browser;
        }
        catch
        {
            await browser.DisposeAsync();
            throw;
        }
    }

    /// <summary>Loads <paramref name="url"/> and waits until its document has loaded.</summary>
    public async Task NavigateAsync(Uri url)
    {
        var result = await SendAsync("Page.navigate", new JsonObject { ["url"] = url.ToString() });
        if (result.TryGetProperty("errorText", out var error) && error.GetString() is { Length: > 0 } text)
        {
            throw new InvalidOperationException($"Chromium could not load {url}: {text}");
        }
        await Wait.UntilAsync(async () => await EvaluateAsync("document.readyState").ConfigureAwait(false) is { ValueKind: JsonValueKind.String } state
            && state.GetString() == "complete");
    }

    /// <summary>Evaluates <paramref name="expression"/> in the page and returns its value (as JSON: return plain data).</summary>
    /// <exception cref="InvalidOperationException">The expression threw; the message has the page's exception.</exception>
    public async Task<JsonElement> EvaluateAsync(string expression)
    {
        var result = await SendAsync("Runtime.evaluate", new JsonObject
        {
            ["expression"] = expression,
            ["returnByValue"] = true,
            ["awaitPromise"] = true,
        });
        if (result.TryGetProperty("exceptionDetails", out var exception))
        {
            throw new InvalidOperationException($"the page threw evaluating {expression}: {exception}");
        }
        return result.GetProperty("result").TryGetProperty("value", out var value) ? value : default;
    }

    /// <summary>Saves a PNG of the whole page (beyond the window, if it is longer) to <paramref name="path"/>.</summary>
    public async Task ScreenshotAsync(string path)
    {
        var metrics = await SendAsync("Page.getLayoutMetrics");
        var size = metrics.GetProperty("cssContentSize");
        var shot = await SendAsync("Page.captureScreenshot", new JsonObject
        {
            ["format"] = "png",
            ["captureBeyondViewport"] = true,
            ["clip"] = new JsonObject
            {
                ["x"] = 0,
                ["y"] = 0,
                ["width"] = size.GetProperty("width").GetDouble(),
                ["height"] = size.GetProperty("height").GetDouble(),
                ["scale"] = 1,
            },
        });
        Directory.CreateDirectory(System.IO.Path.GetDirectoryName(path)!);
        await File.WriteAllBytesAsync(path, Convert.FromBase64String(shot.GetProperty("data").GetString()!));
    }

    /// <summary>Sends a command, to the page's session unless <paramref name="page"/> is false, and waits for its result.</summary>
    public async Task<JsonElement> SendAsync(string method, JsonObject? parameters = null, bool page = true)
    {
        var id = Interlocked.Increment(ref _nextId);
        var reply = new TaskCompletionSource<JsonElement>(TaskCreationOptions.RunContinuationsAsynchronously);
        _pending[id] = reply;
        var message = new JsonObject { ["id"] = id, ["method"] = method, ["params"] = parameters ?? new JsonObject() };
        if (page)
        {
            message["sessionId"] = _session;
        }
        var bytes = Encoding.UTF8.GetBytes(message.ToJsonString());
        await _sendLock.WaitAsync();
        try
        {
            await _socket.SendAsync(bytes, WebSocketMessageType.Text, endOfMessage: true, CancellationToken.None);
        }
        finally
        {
            _sendLock.Release();
        }
        try
        {
            return await reply.Task.Within();
        }
        finally
        {
            _pending.TryRemove(id, out _);
        }
    }

    /// <summary>Reads the socket: a message with an id completes its command; events (no id) are not needed here.</summary>
    private async Task ReceiveAsync()
    {
        var buffer = new byte[64 * 1024];
        using var message = new MemoryStream();
        try
        {
            while (_socket.State == WebSocketState.Open)
            {
                var read = await _socket.ReceiveAsync(buffer, CancellationToken.None);
                if (read.MessageType == WebSocketMessageType.Close)
                {
                    break;
                }
                message.Write(buffer, 0, read.Count);
                if (!read.EndOfMessage)
                {
                    continue;
                }
                using (var document = JsonDocument.Parse(message.GetBuffer().AsMemory(0, (int)message.Length)))
                {
                    var root = document.RootElement;
                    if (root.TryGetProperty("id", out var id) && _pending.TryGetValue(id.GetInt64(), out var reply))
                    {
                        if (root.TryGetProperty("error", out var error))
                        {
                            reply.TrySetException(new InvalidOperationException($"CDP error: {error}"));
                        }
                        else
                        {
                            reply.TrySetResult(root.GetProperty("result").Clone());
                        }
                    }
                }
                message.SetLength(0);
            }
        }
        catch (Exception e) when (e is WebSocketException or ObjectDisposedException or OperationCanceledException)
        {
        }
        foreach (var pending in _pending.Values)
        {
            pending.TrySetException(new InvalidOperationException($"the DevTools connection closed:\n{Log}"));
        }
    }

    public async ValueTask DisposeAsync()
    {
        try
        {
            if (_socket.State == WebSocketState.Open)
            {
                // Browser.close ends every Chromium process; the reply may not come before the socket goes.
                await SendAsync("Browser.close", page: false).WaitAsync(TimeSpan.FromSeconds(5));
            }
        }
        catch (Exception e) when (e is InvalidOperationException or TimeoutException or WebSocketException)
        {
        }
        using (var exited = new CancellationTokenSource(TimeSpan.FromSeconds(10)))
        {
            try
            {
                await _process.WaitForExitAsync(exited.Token);
            }
            catch (OperationCanceledException)
            {
                _process.Kill(entireProcessTree: true);
                await _process.WaitForExitAsync();
            }
        }
        _socket.Dispose();
        await _receiving.WaitAsync(TimeSpan.FromSeconds(10));
        _process.Dispose();
        _sendLock.Dispose();
        try
        {
            Directory.Delete(_profile, recursive: true);
        }
        catch (IOException)
        {
            // A helper process may still hold a file for a moment; a stray temporary profile is harmless.
        }
    }
}
