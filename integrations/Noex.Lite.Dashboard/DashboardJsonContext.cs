using System.Text.Json.Serialization;

namespace Noex.Lite.Dashboard;

/// <summary>
/// The snapshot's JSON, source-generated (no reflection: trimming- and AOT-safe). The default encoder escapes HTML-
/// sensitive characters and everything outside ASCII as <c>\uXXXX</c>, so that names taken from the cluster cannot
/// close a tag even if a consumer pastes the JSON into HTML; the page itself shows them with <c>textContent</c>.
/// </summary>
[JsonSourceGenerationOptions(PropertyNamingPolicy = JsonKnownNamingPolicy.CamelCase, DefaultIgnoreCondition = JsonIgnoreCondition.Never)]
[JsonSerializable(typeof(DashboardSnapshot))]
internal sealed partial class DashboardJsonContext : JsonSerializerContext;
