using Newtonsoft.Json.Linq;

namespace WebhooksApi.Tests.Schemas;

/// <summary>Small edits on a copy of a sample, so a test shows only the field it breaks.</summary>
internal static class JsonEdits
{
    /// <summary>A copy of the first example of the file whose activityStatus is the one asked for.</summary>
    public static JObject SeedEvent(string activityStatus) =>
        (JObject)SchemaFiles.Examples(SchemaFiles.ActivityEvent)
            .First(e => (string?)e["activityStatus"] == activityStatus)
            .DeepClone();

    public static JObject SeedExample(string file, int index) => (JObject)SchemaFiles.Examples(file)[index].DeepClone();

    public static T With<T>(this T json, string name, JToken? value)
        where T : JObject
    {
        json[name] = value ?? JValue.CreateNull();
        return json;
    }

    public static T Without<T>(this T json, params string[] names)
        where T : JObject
    {
        foreach (var name in names)
        {
            json.Remove(name);
        }

        return json;
    }
}
