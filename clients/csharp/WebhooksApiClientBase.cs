namespace WebhooksApi.Client;

/// <summary>
/// The base of every generated client (one per OpenAPI tag: <see cref="ConnectionsClient"/>,
/// <see cref="ApiKeysClient"/> ...). NSwag puts it there (<c>clientBaseClass</c> in client.nswag)
/// so that <see cref="WebhooksApiServiceCollectionExtensions.AddWebhooksApiClient"/> registers the
/// clients of tags added later without a hand-kept list.
/// </summary>
public abstract class WebhooksApiClientBase;
