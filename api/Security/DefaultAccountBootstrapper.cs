using Microsoft.EntityFrameworkCore;
using Microsoft.Extensions.Options;
using WebhooksApi.Persistence;

namespace WebhooksApi.Security;

internal sealed class BootstrapOptions
{
    public const string Section = "Bootstrap";

    /// <summary>The default account's admin key. Unset: one is generated and printed once.</summary>
    public string? ApiKey { get; set; }
}

/// <summary>
/// On first start with an empty database, creates the account "default" and an admin key, so a
/// fresh `dotnet run` can be called at once.
/// </summary>
internal sealed class DefaultAccountBootstrapper(
    WebhooksDbContext db,
    IOptions<BootstrapOptions> options,
    TimeProvider time,
    ILogger<DefaultAccountBootstrapper> logger)
{
    // A fixed id makes two nodes starting together on one empty database create it once: the
    // second insert hits the primary key and that node carries on.
    internal static readonly Guid DefaultAccountId = Guid.Parse("0195f0c0-0000-7000-8000-000000000001");

    public async Task RunAsync(CancellationToken cancellationToken)
    {
        if (await db.Accounts.AnyAsync(cancellationToken))
        {
            return;
        }

        var now = time.GetUtcNow();
        var configured = options.Value.ApiKey;
        var key = string.IsNullOrWhiteSpace(configured) ? ApiKeyFactory.NewKey() : configured.Trim();
        db.Accounts.Add(new Account { Id = DefaultAccountId, Name = "default", CreatedAt = now });
        db.ApiKeys.Add(new ApiKey
        {
            Id = Ids.New(now),
            AccountId = DefaultAccountId,
            Name = "bootstrap",
            KeyHash = ApiKeyFactory.Hash(key),
            Prefix = ApiKeyFactory.DisplayPrefix(key),
            Scopes = Scopes.Admin,
            CreatedAt = now,
        });

        try
        {
            await db.SaveChangesAsync(cancellationToken);
        }
        catch (DbUpdateException)
        {
            logger.LogInformation("Another node created the default account first.");
            return;
        }

        if (string.IsNullOrWhiteSpace(configured))
        {
            // Printed to the console, not the log: it is shown once and must not end up in log storage.
            await Console.Out.WriteLineAsync(
                $"""

                Created account 'default' with an admin API key (shown only this once):
                  {key}
                Use it as:  curl -H "Authorization: Bearer {key}" http://<host>/v1/api-keys

                """.AsMemory(), cancellationToken);
        }
        else
        {
            logger.LogInformation("Created account 'default' with the admin key from Bootstrap:ApiKey.");
        }
    }
}
