# Span attribute names follow OTEL_SEMCONV_STABILITY_OPT_IN, as it was when
# the client was created: unset (or anything else), the seed's names only
# (db.system, db.operation, db.statement, net.peer.name, net.peer.port,
# db.redis.database_index); "database", the stable names only
# (db.system.name, db.operation.name, db.query.text, db.namespace as a
# string, server.address, server.port); "database/dup", both. That holds
# for commands, pipelines (with db.operation.batch.size), transactions and
# the handshake, over TCP and a unix socket (the path as the address, no
# port). A SELECT changes the database shown. On errors, spans with
# set_attribute get error.type and db.response.status_code (the server's
# code: ERR, WRONGTYPE) under the stable names, and only error.type for an
# error that is not the server's; spans without set_attribute still get
# their status. A tracer that isa OpenTelemetry::Trace::Tracer gets the
# SDK's constants (kind 3, SPAN_KIND_CLIENT; status code 2, error); a
# duck-typed one the words 'client' and 'error'.
use Test2::V0;
use IO::Async::Loop;
use Future::IO::Impl::IOAsync;
use Future::IO::Redis;
use JSON::PP ();
use lib 't/lib';
use FIORTest;
use FIORTelemetry;

alarm 60;    # a hang fails the file instead

my $loop = IO::Async::Loop->new;
my $srv  = FIORTest::server('plain');
my $unix = FIORTest::server('unix');

use constant VAR => 'OTEL_SEMCONV_STABILITY_OPT_IN';

my @OLD = qw(db.system db.operation db.statement net.peer.name net.peer.port
    db.redis.database_index);
my @STABLE = qw(db.system.name db.operation.name db.query.text db.namespace server.address
    server.port);
my @PORTS = qw(net.peer.port server.port);

# A client created with the variable set to $mode (undef: unset).
sub traced {
    my ( $mode, %opt ) = @_;
    local $ENV{ VAR() };
    if ( defined $mode ) { $ENV{ VAR() } = $mode }
    else                 { delete $ENV{ VAR() } }
    my $tracer = $opt{otel_tracer} //= FIORTelemetry::Tracer->new;
    my $redis  = Future::IO::Redis->new( ( $opt{path} ? () : %$srv ), %opt );
    return ( $redis, $tracer );
}

# The names a span of each mode has (the sorted list), TCP or unix.
sub names_for {
    my ( $mode, $unix ) = @_;
    my @names
        = $mode eq 'stable' ? @STABLE
        : $mode eq 'dup'    ? ( @OLD, @STABLE )
        :                     @OLD;
    if ($unix) {
        my %port = map { $_ => 1 } @PORTS;
        @names = grep { !$port{$_} } @names;
    }
    return [ sort @names ];
}

# The value as a JSON exporter would write it ("1" for a string).
sub json_of { JSON::PP->new->allow_nonref->encode( $_[0] ) }

my %MODES = (
    old    => [ undef,          '', 'none', 'http', 'databasex', 'database/dupx' ],
    stable => [ 'database',     'http,database',         ' database ' ],
    dup    => [ 'database/dup', 'database,database/dup', 'http, database/dup' ],
);

subtest "the variable's values" => sub {
    for my $mode ( sort keys %MODES ) {
        for my $value ( @{ $MODES{$mode} } ) {
            my $what = defined $value ? "'$value'" : 'unset';
            my ( $redis, $tracer ) = traced($value);
            my $k = FIORTest::unique_key('semconv-value');
            is( $redis->get($k)->get, undef, "$what: GET" );
            my ($span) = $tracer->named('GET');
            is( [ sort keys %{ $span->attributes } ], names_for($mode), "$what: the $mode names" );
            $redis->disconnect;
        }
    }
};

for my $mode (qw(old stable dup)) {
    my $value = $MODES{$mode}[0];

    subtest "$mode names: values, batches, handshake" => sub {
        my ( $redis, $tracer ) = traced( $value, database => 1, client_name => 'semconv' );
        my $k = FIORTest::unique_key('semconv');
        is( $redis->set( $k, 'v' )->get, 'OK', 'SET' );
        my ($set) = $tracer->named('SET');
        my $attr = $set->attributes;
        is( [ sort keys %$attr ], names_for($mode), 'SET: exactly these names' );
        my %want = (
            'db.system'               => 'redis',
            'db.operation'            => 'SET',
            'db.statement'            => "SET $k ?",
            'net.peer.name'           => $srv->{host},
            'net.peer.port'           => $srv->{port},
            'db.redis.database_index' => 1,
            'db.system.name'          => 'redis',
            'db.operation.name'       => 'SET',
            'db.query.text'           => "SET $k ?",
            'db.namespace'            => '1',
            'server.address'          => $srv->{host},
            'server.port'             => $srv->{port},
        );
        is( $attr, { map { $_ => $want{$_} } @{ names_for($mode) } }, 'SET: the values' );
        is( json_of( $attr->{'db.namespace'} ), '"1"',                'db.namespace is a string' )
            if $mode ne 'old';

        my $p = $redis->pipeline;
        $p->get($k)->get($k)->get($k);
        is( $p->execute->get, [ ('v') x 3 ], 'a pipeline of 3' );
        my ($pipe) = $tracer->named('PIPELINE');
        my $pattr = $pipe->attributes;
        is( $pattr->{'db.operation.batch.size'}, 3, 'PIPELINE: db.operation.batch.size' );
        is(
            $pattr->{'db.redis.pipeline_size'},
            $mode eq 'stable' ? undef : 3,
            'PIPELINE: db.redis.pipeline_size only with old names'
        );
        my $text = join "\n", ("GET $k") x 3;
        is( $pattr->{ $mode eq 'stable' ? 'db.query.text' : 'db.statement' },
            $text, 'PIPELINE: one line per command' );
        is( [ sort grep { !/batch.size|pipeline_size/ } keys %$pattr ],
            names_for($mode), 'PIPELINE: otherwise the same names' );

        is( $redis->multi( sub { $_[0]->incr("$k:n") } )->get, [1], 'a transaction' );
        my ($multi) = $tracer->named('MULTI');
        is( [ sort grep { !/batch.size|pipeline_size/ } keys %{ $multi->attributes } ],
            names_for($mode), 'MULTI: the same names' );
        is( $multi->attributes->{'db.operation.batch.size'}, 1, 'MULTI: its size' );

        my @handshake = ( $tracer->named('SELECT'), $tracer->named('CLIENT') );
        ok( @handshake >= 2, 'handshake spans (SELECT, CLIENT SETNAME)' );
        is(
            [ map { [ sort keys %{ $_->attributes } ] } @handshake ],
            [ map { names_for($mode) } @handshake ],
            'handshake spans: the same names'
        );

        is( $redis->command( 'SELECT', 2 )->get, 'OK',  'SELECT 2' );
        is( $redis->get($k)->get,                undef, 'GET in database 2' );
        my $get = ( $tracer->named('GET') )[-1];
        is(
            [ @{ $get->attributes }{qw(db.redis.database_index db.namespace)} ],
            [ $mode eq 'stable' ? undef : 2, $mode eq 'old' ? undef : '2' ],
            'after SELECT the spans show database 2'
        );
        is( $redis->command( 'SELECT', 1 )->get,   'OK', 'SELECT 1' );
        is( $redis->del( $k, "$k:n" )->get,        2,    'cleaned up' );
        is( [ map { $_->name } $tracer->unended ], [],   'every span ended' );
        $redis->disconnect;
    };
}

subtest 'the variable is read when the client is created' => sub {
    my ( $redis, $tracer ) = traced('database');
    {
        local $ENV{ VAR() } = 'none';
        is( $redis->ping->get, 'PONG', 'PING with the variable changed' );
    }
    my ($span) = $tracer->named('PING');
    is( [ sort keys %{ $span->attributes } ], names_for('stable'), 'still the stable names' );
    $redis->disconnect;

    ( $redis, $tracer ) = traced(undef);
    {
        local $ENV{ VAR() } = 'database';
        is( $redis->ping->get, 'PONG', 'PING with the variable set after new' );
    }
    ($span) = $tracer->named('PING');
    is( [ sort keys %{ $span->attributes } ], names_for('old'), 'still the old names' );
    $redis->disconnect;
};

# error.type and db.response.status_code, for each mode and kind of tracer.
for my $mode (qw(old stable dup)) {
    for my $class (qw(FIORTelemetry::Tracer FIORTelemetry::RealishTracer)) {
        my $real = $class =~ /Realish/;
        my $what = "$mode names, " . ( $real ? 'OpenTelemetry' : 'duck-typed' ) . ' tracer';

        subtest "errors: $what" => sub {
            my ( $redis, $tracer ) = traced( $MODES{$mode}[0], otel_tracer => $class->new );
            my $k = FIORTest::unique_key('semconv-error');
            is( $redis->set( $k, 'not a number' )->get, 'OK', 'SET a string' );
            my $err = FIORTest::failure_of( $redis->incr($k) );
            like( "$err", qr/^ERR /, 'INCR of a string: ERR' );
            $err = FIORTest::failure_of( $redis->lpush( $k, 'x' ) );
            like( "$err", qr/^WRONGTYPE /, 'LPUSH on a string: WRONGTYPE' );
            is( $redis->del($k)->get, 1, 'cleaned up' );
            $redis->disconnect;
            $err = FIORTest::failure_of( $redis->get($k) );
            isa_ok( $err, ['Future::IO::Redis::Error::Disconnected'], 'GET after disconnect' );

            my %kind = map { $_->kind => 1 } $tracer->spans;
            is( [ keys %kind ], [ $real ? 3 : 'client' ], 'every span of kind client' );
            my ($set) = $tracer->named('SET');
            is( $set->status,                   undef, 'SET: no status set' );
            is( $set->{set_attributes},         [],    'SET: no attribute set later' );
            is( scalar @{ $set->{exceptions} }, 0,     'SET: no exception' );

            my @cases = (
                [ INCR  => 'ERR',       qr/^ERR value is not an integer/ ],
                [ LPUSH => 'WRONGTYPE', qr/^WRONGTYPE Operation against a key/ ],
                [ GET   => undef,       qr/disconnect/, 'Disconnected' ],
            );
            for my $case (@cases) {
                my ( $name, $code, $message, $class_type ) = @$case;
                my ($span) = $tracer->named($name);
                ok( $span->ended, "$name: ended" );
                like(
                    $span->status,
                    { code => $real ? 2 : 'error', message => $message },
                    "$name: error status with the message"
                );
                is( scalar @{ $span->{exceptions} }, 1, "$name: the exception recorded" );
                my %set = map { @$_ } @{ $span->{set_attributes} };
                my %want
                    = $mode eq 'old'
                    ? ()
                    : (
                    'error.type' => $code // $class_type,
                    defined $code ? ( 'db.response.status_code' => $code ) : ()
                    );
                is( \%set, \%want,
                    "$name: " . ( %want ? 'error.type and status code' : 'no attributes set' ) );
            }
        };
    }
}

subtest 'spans without set_attribute' => sub {
    my ( $redis, $tracer )
        = traced( 'database/dup', otel_tracer => FIORTelemetry::Tracer->new( plain_spans => 1 ) );
    my $k = FIORTest::unique_key('semconv-plain');
    is( $redis->set( $k, 'x' )->get, 'OK', 'SET a string' );
    like( "" . FIORTest::failure_of( $redis->incr($k) ), qr/^ERR /, 'INCR fails' );
    is( $redis->ping->get,    'PONG', 'the client goes on' );
    is( $redis->del($k)->get, 1,      'cleaned up' );
    my ($span) = $tracer->named('INCR');
    is( $span->status->{code}, 'error', 'INCR: error status' );
    ok( $span->ended, 'INCR: ended' );
    is(
        [ $span->{set_attributes}, $span->{exceptions} ],
        [ [],                      [] ],
        'neither set_attribute nor record_exception was called'
    );
    $redis->disconnect;
};

subtest 'unix socket: the path as the address, no port' => sub {
    for my $mode (qw(old stable dup)) {
        my ( $redis, $tracer ) = traced( $MODES{$mode}[0], path => $unix->{path} );
        my $k = FIORTest::unique_key('semconv-unix');
        is( $redis->get($k)->get, undef, "$mode: GET over the socket" );
        my ($span) = $tracer->named('GET');
        my $attr = $span->attributes;
        is( [ sort keys %$attr ], names_for( $mode, 1 ), "$mode: the names, without a port" );
        is(
            [ grep { defined } @{$attr}{qw(net.peer.name server.address)} ],
            [ ( $unix->{path} ) x ( $mode eq 'dup' ? 2 : 1 ) ],
            "$mode: the path as the address"
        );
        $redis->disconnect;
    }
};

done_testing;
