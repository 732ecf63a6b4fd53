-- Makes the function app's managed identity a contained user of the monitoring database and grants what
-- the app needs. Run it connected to the monitoring database (not master) as the server's Entra admin;
-- sqlcmd fills the two variables:
--   sqlcmd -S <server>.database.windows.net -d monitoring --authentication-method ActiveDirectoryDefault \
--     -v IdentityName=<identity name> ObjectId=<identity principal id> -i infra/bicep/scripts/create-sql-user.sql
-- create_sql_user.py beside this file runs the same text. Running it again changes nothing.
--
-- Roles:
--   db_datareader, db_datawriter  every query and DML statement the app runs (the pipeline, alerting,
--                                 cleanup's batched deletes);
--   db_ddladmin                   the maintenance timer's ALTER INDEX ... REORGANIZE/REBUILD and UPDATE
--                                 STATISTICS need ALTER on each table, and it lets a pipeline that signs in
--                                 as this identity apply migrations (mgrid db upgrade);
--   VIEW DATABASE STATE           maintenance reads index fragmentation from sys.dm_db_index_physical_stats.
-- The identity gets no db_owner: it cannot change permissions or drop the database.

IF NOT EXISTS (SELECT 1 FROM sys.database_principals WHERE name = N'$(IdentityName)')
BEGIN
    CREATE USER [$(IdentityName)] FROM EXTERNAL PROVIDER WITH OBJECT_ID = '$(ObjectId)';
END;

IF IS_ROLEMEMBER(N'db_datareader', N'$(IdentityName)') = 0
    ALTER ROLE db_datareader ADD MEMBER [$(IdentityName)];

IF IS_ROLEMEMBER(N'db_datawriter', N'$(IdentityName)') = 0
    ALTER ROLE db_datawriter ADD MEMBER [$(IdentityName)];

IF IS_ROLEMEMBER(N'db_ddladmin', N'$(IdentityName)') = 0
    ALTER ROLE db_ddladmin ADD MEMBER [$(IdentityName)];

GRANT VIEW DATABASE STATE TO [$(IdentityName)];
