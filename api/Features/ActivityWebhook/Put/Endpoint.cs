using Microsoft.AspNetCore.Http.HttpResults;
using Microsoft.AspNetCore.Mvc;
using Microsoft.EntityFrameworkCore;
using WebhooksApi.Activities;
using WebhooksApi.Delivery;
using WebhooksApi.Features.Connections;
using WebhooksApi.Http;
using WebhooksApi.Persistence;
using WebhooksApi.Security;

namespace WebhooksApi.Features.ActivityWebhook.Put;

internal sealed class Endpoint : IEndpoint
{
    public static void Map(IEndpointRouteBuilder app) =>
        app.MapPut("/v1/activity-webhook", Handle)
            .WithName("ActivityWebhook_Put")
            .WithTags("ActivityWebhook")
            .WithSummary("Set the account's activity webhook")
            .WithDescription("Sends a verifying GET to the URL first: a non-2xx answer refuses the save with a 422 carrying the status and body. Same URL policy and signing as connections; the signing secret is returned when the webhook is first created.")
            .RequireScopes(Scopes.ConnectionsManage)
            .ProducesValidationProblems()
            .ProducesProblem(StatusCodes.Status422UnprocessableEntity)
            .ProducesAuthProblems();

    private static async Task<Results<Ok<ActivityWebhookOut>, ProblemHttpResult>> Handle(
        ActivityWebhookIn request,
        HttpContext http,
        WebhooksDbContext db,
        UrlPolicy urlPolicy,
        SecretProtector protector,
        RequestComposer composer,
        WebhookSender sender,
        TimeProvider time,
        CancellationToken cancellationToken)
    {
        var accountId = http.User.GetAccountId();
        var errors = new ValidationErrors();
        var url = request.Url.Trim();
        var check = await urlPolicy.CheckAsync(url, cancellationToken);
        if (!check.Allowed && check.Reason != UrlCheckReasons.DnsFailure)
        {
            errors.Add("url", $"{check.Message} ({check.Reason})");
        }

        Guid? authId = null;
        if (request.AuthConnectorId is not null)
        {
            authId = Guid.TryParse(request.AuthConnectorId, out var parsed) && await db.AuthConnectors.AnyAsync(a => a.Id == parsed && a.AccountId == accountId, cancellationToken)
                ? parsed
                : null;
            if (authId is null)
            {
                errors.Add("authConnectorId", $"No auth connector with id '{request.AuthConnectorId}'.");
            }
        }

        if (request.BatchSize is < 1 or > 1000)
        {
            errors.Add("batchSize", "batchSize must be between 1 and 1000.");
        }

        if (request.MaxBatchAgeSeconds is < 1 or > 3600)
        {
            errors.Add("maxBatchAgeSeconds", "maxBatchAgeSeconds must be between 1 and 3600.");
        }

        if (errors.Any)
        {
            return errors.ToProblem();
        }

        var now = time.GetUtcNow();
        var hook = await db.ActivityWebhooks.FirstOrDefaultAsync(w => w.AccountId == accountId, cancellationToken);
        string? newSecret = null;
        if (hook is null)
        {
            (newSecret, var protectedSecret) = ConnectionRules.NewSigningSecret(protector);
            hook = new Persistence.ActivityWebhook
            {
                Id = Ids.New(now),
                AccountId = accountId,
                Url = url,
                EventTypesJson = "[]",
                BatchSize = 100,
                MaxBatchAgeSeconds = 60,
                Enabled = true,
                SigningSecretProtected = protectedSecret,
                CreatedAt = now,
            };
            db.ActivityWebhooks.Add(hook);
        }

        hook.Url = url;
        hook.AuthConnectorId = authId;
        hook.EventTypesJson = ActivityWebhookMapping.Write(request.EventTypes ?? []);
        hook.BatchSize = request.BatchSize ?? hook.BatchSize;
        hook.MaxBatchAgeSeconds = request.MaxBatchAgeSeconds ?? hook.MaxBatchAgeSeconds;
        hook.Enabled = request.Enabled ?? hook.Enabled;
        hook.UpdatedAt = now;

        // The verifying GET: the receiver proves it is there (and accepts our credentials) before anything is sent to it.
        var auth = authId is { } id ? await db.AuthConnectors.AsNoTracking().FirstAsync(a => a.Id == id, cancellationToken) : null;
        var account = await db.Accounts.AsNoTracking().Where(a => a.Id == accountId).Select(a => a.Name).FirstAsync(cancellationToken);
        var input = new MessageInput([], [], [], accountId, account, WebhookSigner.NewMessageId(Ids.New(now)), "activity.verify", now);
        var composed = composer.Compose(ActivityFeed.AsConnection(hook, WebhookMethod.Get), auth, input);
        var result = await sender.SendAsync(composed.Request!, expectJson: false, cancellationToken);
        if (result.Outcome != Outcomes.Ok)
        {
            var body = result.ResponseBody is { Length: > 2000 } text ? text[..2000] : result.ResponseBody;
            var problem = new ProblemDetails
            {
                Status = StatusCodes.Status422UnprocessableEntity,
                Type = "urn:webhooks-api:problem:verification-failed",
                Title = "The activity URL did not answer the verifying GET with a 2xx.",
                Detail = result.Error ?? $"The URL answered {result.StatusCode}.",
            };
            problem.Extensions["outcome"] = result.Outcome;
            problem.Extensions["statusCode"] = result.StatusCode;
            problem.Extensions["responseBody"] = body;
            return TypedResults.Problem(problem);
        }

        await db.SaveChangesAsync(cancellationToken);
        return TypedResults.Ok(ActivityWebhookMapping.ToOut(hook, newSecret));
    }
}
