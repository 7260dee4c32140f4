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

    /// <summary>Sets the value at a slash-separated path of existing objects and arrays ("items/3/contact").</summary>
    public static T WithAt<T>(this T json, string path, JToken value)
        where T : JToken
    {
        var parts = path.Split('/');
        JToken node = json;
        foreach (var part in parts[..^1])
        {
            node = node is JArray array ? array[int.Parse(part)] : node[part]!;
        }

        if (node is JArray target)
        {
            target[int.Parse(parts[^1])] = value;
        }
        else
        {
            node[parts[^1]] = value;
        }

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
