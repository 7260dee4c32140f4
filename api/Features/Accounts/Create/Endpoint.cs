using Microsoft.AspNetCore.Http.HttpResults;
using WebhooksApi.Features.ApiKeys;
using WebhooksApi.Http;
using WebhooksApi.Persistence;
using WebhooksApi.Security;

namespace WebhooksApi.Features.Accounts.Create;

internal sealed record AccountIn(string Name);

/// <summary>A new account and its first admin key (shown only in this response).</summary>
internal sealed record AccountCreatedOut(string Id, string Name, DateTimeOffset CreatedAt, ApiKeyCreatedOut ApiKey);

internal sealed class Endpoint : IEndpoint
{
    public static void Map(IEndpointRouteBuilder app) =>
        app.MapPost("/v1/accounts", Handle)
            .WithName("Accounts_Create")
            .WithTags("Accounts")
            .WithSummary("Create an account")
            .WithDescription("Operator only: needs the key configured as Operator:ApiKey (without it this endpoint is off and answers 404). Returns the account's first admin key.")
            .RequireOperatorKey()
            .Idempotent()
            .ProducesValidationProblems()
            .ProducesAuthProblems()
            .ProducesNotFound();

    private static async Task<Results<Created<AccountCreatedOut>, ProblemHttpResult>> Handle(
        AccountIn request, WebhooksDbContext db, TimeProvider time, CancellationToken cancellationToken)
    {
        var errors = new ValidationErrors();
        errors.Length("name", request.Name.Trim(), 1, 200);
        if (errors.Any)
        {
            return errors.ToProblem();
        }

        var now = time.GetUtcNow();
        var account = new Account { Id = Ids.New(now), Name = request.Name.Trim(), CreatedAt = now };
        db.Accounts.Add(account);
        var key = ApiKeyIssuer.Issue(db, account.Id, "admin", [ApiScope.Admin], now);
        await db.SaveChangesAsync(cancellationToken);
        return TypedResults.Created($"/v1/accounts/{account.Id}", new AccountCreatedOut(account.Id.ToString(), account.Name, account.CreatedAt, key));
    }
}
